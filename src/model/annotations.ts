// `portico.dev/*` annotations → RoutePolicy. One table entry per annotation: its name, the
// RoutePolicy field it sets, its default, and a parser that returns undefined for a value it
// does not accept. A bad value never stops the Ingress from routing: it gets the default and
// a problem that names the annotation, the value and what would have been accepted.

import { describe, isDict } from './read.ts';
import { DEFAULT_POLICY, type LoadBalanceAlgorithm, type RoutePolicy } from './types.ts';

export const ANNOTATION_PREFIX = 'portico.dev/';

export interface AnnotationParser<K extends keyof RoutePolicy> {
  /** Full annotation name, e.g. `portico.dev/load-balance`. */
  readonly name: string;
  /** The RoutePolicy field the annotation sets. */
  readonly field: K;
  /** Value used when the annotation is absent or invalid. */
  readonly default: RoutePolicy[K];
  /** What the parser accepts, as words for a problem message. */
  readonly accepted: string;
  /** The typed value, or undefined when `raw` is not acceptable. `raw` is already trimmed. */
  parse(raw: string): RoutePolicy[K] | undefined;
}

/** One parser per RoutePolicy field, whatever its value type. */
export type AnyAnnotationParser = { [K in keyof RoutePolicy]: AnnotationParser<K> }[keyof RoutePolicy];

// ---- value parsers, reusable by future entries -------------------------------------------

/** One of a fixed set of words (exact, case-sensitive, like Kubernetes enums). */
export function oneOf<T extends string>(values: readonly T[]): { accepted: string; parse(raw: string): T | undefined } {
  const set = new Set<string>(values);
  const quoted = values.map((v) => `"${v}"`);
  const accepted =
    quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
  return { accepted, parse: (raw) => (set.has(raw) ? (raw as T) : undefined) };
}

/** "true" or "false", as Kubernetes annotations spell booleans. */
export const boolean: { accepted: string; parse(raw: string): boolean | undefined } = {
  accepted: '"true" or "false"',
  parse: (raw) => (raw === 'true' ? true : raw === 'false' ? false : undefined),
};

// ---- the table ---------------------------------------------------------------------------

const loadBalance: AnnotationParser<'loadBalance'> = {
  name: `${ANNOTATION_PREFIX}load-balance`,
  field: 'loadBalance',
  default: DEFAULT_POLICY.loadBalance,
  ...oneOf<LoadBalanceAlgorithm>(['round-robin', 'least-conn', 'ip-hash']),
};

const sslRedirect: AnnotationParser<'sslRedirect'> = {
  name: `${ANNOTATION_PREFIX}ssl-redirect`,
  field: 'sslRedirect',
  default: DEFAULT_POLICY.sslRedirect,
  ...boolean,
};

export const ANNOTATIONS: readonly AnyAnnotationParser[] = [loadBalance, sslRedirect];

/** Portico annotations read outside the model (not typos): the ACME room reads these. */
export const ANNOTATIONS_READ_ELSEWHERE: readonly string[] = [`${ANNOTATION_PREFIX}acme`];

const BY_NAME: ReadonlyMap<string, AnyAnnotationParser> = new Map(ANNOTATIONS.map((p) => [p.name, p]));

// ---- applying the table to an Ingress ------------------------------------------------------

export type AnnotationProblem = (reason: 'InvalidAnnotation' | 'UnknownAnnotation', message: string) => void;

/**
 * The policy an Ingress's annotations ask for. Returns the shared DEFAULT_POLICY when nothing
 * differs from it (the common case: no allocation, and routes can be compared by reference).
 */
export function parsePolicy(annotations: unknown, report: AnnotationProblem): RoutePolicy {
  if (annotations === undefined || annotations === null) return DEFAULT_POLICY;
  if (!isDict(annotations)) {
    report('InvalidAnnotation', `metadata.annotations is ${describe(annotations)}, not a map of strings; the annotations are ignored.`);
    return DEFAULT_POLICY;
  }

  for (const key of Object.keys(annotations)) {
    if (key.startsWith(ANNOTATION_PREFIX) && !BY_NAME.has(key) && !ANNOTATIONS_READ_ELSEWHERE.includes(key)) {
      report(
        'UnknownAnnotation',
        `Annotation "${key}" is not a Portico annotation and is ignored; check its spelling. Known: ${[...BY_NAME.keys()].join(', ')}.`,
      );
    }
  }

  let policy: RoutePolicy | undefined;
  for (const parser of ANNOTATIONS) policy = applyParser(parser, annotations, report, policy);
  return policy === undefined ? DEFAULT_POLICY : Object.freeze(policy);
}

/** Reads one annotation into `policy`, copying DEFAULT_POLICY on the first non-default value. */
function applyParser<K extends keyof RoutePolicy>(
  parser: AnnotationParser<K>,
  annotations: Record<string, unknown>,
  report: AnnotationProblem,
  policy: RoutePolicy | undefined,
): RoutePolicy | undefined {
  const value = readValue(parser, annotations[parser.name], report);
  if (value === parser.default) return policy;
  const out = policy ?? { ...DEFAULT_POLICY };
  out[parser.field] = value;
  return out;
}

function readValue<K extends keyof RoutePolicy>(
  parser: AnnotationParser<K>,
  raw: unknown,
  report: AnnotationProblem,
): RoutePolicy[K] {
  if (raw === undefined) return parser.default;
  const parsed = typeof raw === 'string' ? parser.parse(raw.trim()) : undefined;
  if (parsed !== undefined) return parsed;
  report(
    'InvalidAnnotation',
    `Annotation "${parser.name}" has the value ${describe(raw)}, which is not valid; accepted values are ${parser.accepted}. Using the default "${String(parser.default)}".`,
  );
  return parser.default;
}
