// Ingresses and IngressClasses → the migration report (pure): per Ingress, whether Portico
// would serve it (the program's own class selection) and the verdict on each annotation; per
// annotation and per verdict, how often they occur on the Ingresses Portico would serve.
//
// Only served Ingresses count towards the totals and the exit code: another controller's
// Ingresses are not affected by running Portico. They are still listed, with their
// annotations, so that a wrong --controller-name or --ingress-class shows.

import { classSelector, LEGACY_CLASS_ANNOTATION, type ClassOptions } from '../model/ingress-class.ts';
import type { Ingress, IngressClass } from '../store/types.ts';
import type { Snapshot } from '../store/store.ts';
import { processIngressSafely } from '../model/ingress-processor.ts';
import { ProblemSink } from '../model/problems.ts';
import { checkAnnotations, needsAttention, VERDICT_ORDER, VERDICTS, type AnnotationVerdict, type IngressEffect, type Verdict } from './classify.ts';

export interface IngressReport {
  readonly namespace: string;
  readonly name: string;
  /** Where its class comes from, or null when it names none. */
  readonly class: { readonly from: 'ingressClassName' | 'annotation'; readonly name: string } | null;
  /** Portico, run with the same class flags, would serve it. */
  readonly served: boolean;
  /** What Portico would do with it; 'not-served' when it is another controller's. */
  readonly effect: IngressEffect | 'not-served';
  /** Not served: why not, in words. */
  readonly notServedBecause?: string;
  readonly annotations: readonly AnnotationVerdict[];
  /**
   * Secrets and ConfigMaps it names that make its rules answer 503 (missing, or unusable), as
   * the controller would report them; only when the objects were read (manifests).
   */
  readonly references: readonly string[];
}

export interface AnnotationCount {
  readonly key: string;
  readonly verdict: Verdict;
  /** Served Ingresses that carry the annotation with this verdict. */
  readonly ingresses: number;
  readonly note: string;
}

export interface MigrationReport {
  /** Where the objects came from, e.g. `manifests /srv/k8s` or `cluster https://10.0.0.1:443`. */
  readonly source: string;
  readonly options: { readonly controllerName: string; readonly ingressClass: string; readonly watchIngressWithoutClass: boolean };
  /** Sorted by namespace/name. */
  readonly ingresses: readonly IngressReport[];
  /** On served Ingresses; worst verdict first, then by key. */
  readonly annotations: readonly AnnotationCount[];
  /** Annotation uses per verdict on served Ingresses. */
  readonly totals: Readonly<Record<Verdict, number>>;
  readonly served: number;
  readonly notServed: number;
  /** Served Ingresses with an unsupported, failing-closed or unknown annotation. */
  readonly needAttention: number;
  /** Objects that could not be read (manifest files that do not parse, invalid objects). */
  readonly problems: readonly string[];
  /** 0: everything served is supported; 1: something needs attention (see README). */
  readonly exitCode: 0 | 1;
}

export interface ReportInput {
  source: string;
  ingresses: readonly Ingress[];
  classes: readonly IngressClass[];
  options: ClassOptions;
  problems?: readonly string[];
  /** The Secrets and ConfigMaps the Ingresses name (with every other object, from manifests). */
  objects?: Snapshot;
  /** --enable-ssl-passthrough of the deployment checked for (default false, as the program's). */
  sslPassthrough?: boolean;
}

/**
 * The problems of the Ingress's Secret and ConfigMap references that fail closed, from the
 * Ingress processor itself (its messages say "answers 503").
 */
function referenceProblems(ing: Ingress, objects: Snapshot): string[] {
  const sink = new ProblemSink();
  processIngressSafely(ing, objects, sink);
  return sink
    .sorted()
    .filter((p) => (p.reason === 'AuthSecretInvalid' || p.reason === 'ConfigMapInvalid' || p.reason === 'InvalidTLS') && p.message.includes('answers 503'))
    .map((p) => `${p.reason}: ${p.message}`);
}

export function buildReport(input: ReportInput): MigrationReport {
  const selector = classSelector(input.classes, input.options);
  const ingresses = [...input.ingresses].sort(byName).map((ing): IngressReport => {
    const served = selector.isOurs(ing);
    const check = checkAnnotations(ing.metadata.annotations, { sslPassthrough: input.sslPassthrough === true });
    const cls = classOf(ing);
    const references = served && input.objects !== undefined ? referenceProblems(ing, input.objects) : [];
    return {
      namespace: ing.metadata.namespace ?? '',
      name: ing.metadata.name,
      class: cls,
      served,
      effect: !served ? 'not-served' : references.length > 0 ? 'answers-503' : check.effect,
      ...(served ? {} : { notServedBecause: whyNot(cls, input.options) }),
      annotations: check.annotations,
      references,
    };
  });

  const totals = Object.fromEntries(VERDICT_ORDER.map((v) => [v, 0])) as Record<Verdict, number>;
  const counts = new Map<string, { key: string; verdict: Verdict; ingresses: number; note: string }>();
  let needAttention = 0;
  for (const ing of ingresses) {
    if (!ing.served) continue;
    if (ing.annotations.some((a) => needsAttention(a.verdict)) || ing.references.length > 0) needAttention++;
    for (const a of ing.annotations) {
      totals[a.verdict]++;
      const id = `${a.verdict} ${a.key}`;
      const count = counts.get(id);
      if (count === undefined) counts.set(id, { key: a.key, verdict: a.verdict, ingresses: 1, note: a.note });
      else count.ingresses++;
    }
  }
  const annotations = [...counts.values()].sort(
    (a, b) => VERDICTS.indexOf(b.verdict) - VERDICTS.indexOf(a.verdict) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  const served = ingresses.filter((i) => i.served).length;
  const problems = input.problems ?? [];
  return {
    source: input.source,
    options: { controllerName: input.options.controllerName, ingressClass: input.options.ingressClass, watchIngressWithoutClass: input.options.watchWithoutClass === true },
    ingresses,
    annotations,
    totals,
    served,
    notServed: ingresses.length - served,
    needAttention,
    problems,
    exitCode: needAttention > 0 || problems.length > 0 ? 1 : 0,
  };
}

function byName(a: Ingress, b: Ingress): number {
  const ka = `${a.metadata.namespace ?? ''}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The class an Ingress names, read as model/ingress-class.ts reads it. */
function classOf(ing: Ingress): IngressReport['class'] {
  const field = ing.spec?.ingressClassName;
  if (typeof field === 'string' && field !== '') return { from: 'ingressClassName', name: field };
  const legacy = ing.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (typeof legacy === 'string' && legacy !== '') return { from: 'annotation', name: legacy };
  return null;
}

/** Why the class selection leaves an Ingress out (it names another class, or none). */
function whyNot(cls: IngressReport['class'], options: ClassOptions): string {
  if (cls === null) return 'it has no class, no IngressClass of ours is the default, and --watch-ingress-without-class is off';
  if (cls.from === 'ingressClassName') return `IngressClass "${cls.name}" does not exist or its spec.controller is not ${options.controllerName}`;
  return `its kubernetes.io/ingress.class "${cls.name}" is neither --ingress-class (${options.ingressClass}) nor an IngressClass of ours`;
}
