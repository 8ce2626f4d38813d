// One Ingress's annotations → what Portico does with each (pure). The verdicts come from the
// same code the Ingress processor runs, not from a second opinion: the catalogue
// (model/nginx-annotations.ts) for support levels, unenforcedAccessControls for what fails
// closed (snippets with access directives included), and the annotation parsers for values
// Portico refuses. Only `nginx.ingress.kubernetes.io/*` and `portico.dev/*` are judged; other
// annotations (cert-manager's, the legacy class) are not Portico's to classify.

import { isCanary, readCanaryOptions } from '../model/canary-options.ts';
import { checkNoEffectValues } from '../model/no-effect-options.ts';
import { readRedirectOptions } from '../model/redirect-options.ts';
import { ANNOTATION_PREFIX, ANNOTATIONS, ANNOTATIONS_READ_ELSEWHERE, parsePolicy, unenforcedAccessControls } from '../model/annotations.ts';
import { NGINX_PREFIX, nginxAnnotation } from '../model/nginx-annotations.ts';
import { parseRewriteTemplate } from '../model/regex.ts';
import { readRouteOptions } from '../model/route-options.ts';

/**
 * supported     Portico implements it with ingress-nginx's meaning (or it is Portico's own);
 * differs       implemented, with a difference the note states;
 * unsupported   ignored (or its value is refused), the Ingress still routes;
 * fails-closed  an access control Portico does not enforce: the Ingress answers 503;
 * unknown       not in the catalogue (a typo, or not an ingress-nginx annotation): ignored.
 */
export type Verdict = 'supported' | 'differs' | 'unsupported' | 'fails-closed' | 'unknown';

/** Mildest first (an unknown annotation is ignored: milder than a known one Portico ignores). */
export const VERDICTS: readonly Verdict[] = ['supported', 'differs', 'unknown', 'unsupported', 'fails-closed'];

/** The order totals are shown and written in. */
export const VERDICT_ORDER: readonly Verdict[] = ['supported', 'differs', 'unsupported', 'fails-closed', 'unknown'];

/** How the table names each verdict. */
export const VERDICT_WORDS: Readonly<Record<Verdict, string>> = {
  supported: 'supported',
  differs: 'supported with differences',
  unsupported: 'unsupported',
  'fails-closed': 'fails closed: answers 503',
  unknown: 'unknown annotation',
};

/** Whether an Ingress with this verdict needs attention before Portico takes it over. */
export function needsAttention(verdict: Verdict): boolean {
  return verdict === 'unsupported' || verdict === 'fails-closed' || verdict === 'unknown';
}

export interface AnnotationVerdict {
  /** The full annotation name. */
  readonly key: string;
  readonly verdict: Verdict;
  /** What Portico does instead, how it differs, or why the value is refused. */
  readonly note: string;
}

/** What Portico would do with the Ingress as a whole, from its annotations. */
export type IngressEffect =
  /** every annotation is honoured (maybe with differences) */
  | 'routes'
  /** routes, ignoring unsupported or unknown annotations */
  | 'routes-ignoring'
  /** an access control (or a rewrite) it cannot honour: every rule answers 503 */
  | 'answers-503'
  /** a canary Ingress: its rules join the primary rules with the same host and path */
  | 'canary';

export interface AnnotationsCheck {
  /** Sorted by key. */
  readonly annotations: readonly AnnotationVerdict[];
  readonly effect: IngressEffect;
}

const PORTICO_NAMES: ReadonlySet<string> = new Set([...ANNOTATIONS.map((p) => p.name), ...ANNOTATIONS_READ_ELSEWHERE]);

function judged(key: string): boolean {
  return key.startsWith(NGINX_PREFIX) || key.startsWith(ANNOTATION_PREFIX);
}

/** The verdicts on an Ingress's `metadata.annotations` (anything that is not a map: none). */
export function checkAnnotations(annotations: unknown, opts: { sslPassthrough?: boolean } = {}): AnnotationsCheck {
  if (typeof annotations !== 'object' || annotations === null || Array.isArray(annotations)) return { annotations: [], effect: 'routes' };
  const dict = annotations as Record<string, unknown>;
  const keys = Object.keys(dict).filter(judged).sort();

  const failsClosed = new Set(unenforcedAccessControls(dict, () => {}));
  // The parsers report a refused value as `Annotation "<key>" has the value ...`: the message
  // the user would see as a problem is the note.
  const refused = new Map<string, string>();
  const collect = (reason: string, message: string): void => {
    if (reason !== 'InvalidAnnotation') return;
    const key = /^Annotation "([^"]+)" has the value /.exec(message)?.[1];
    if (key !== undefined && !refused.has(key)) refused.set(key, message.replace(/^Annotation "[^"]+" has the value (.*?), which is not valid/, 'the value $1 is not valid'));
  };
  parsePolicy(dict, collect);
  const routeOptions = readRouteOptions(dict, collect);
  readRedirectOptions(dict, collect);
  checkNoEffectValues(dict, collect);
  if (isCanary(dict, collect)) readCanaryOptions(dict, collect);
  // A target the group accepts can still be unusable on every path: an nginx variable ($host)
  // is refused whatever the path's capture groups (which only the rule's path can tell).
  let rewriteBroken = routeOptions.rewriteBroken;
  if (routeOptions.rewriteTarget !== '') {
    const template = parseRewriteTemplate(routeOptions.rewriteTarget, 9);
    if ('invalid' in template) {
      rewriteBroken = true;
      const key = dict[`${ANNOTATION_PREFIX}rewrite-target`] !== undefined ? `${ANNOTATION_PREFIX}rewrite-target` : `${NGINX_PREFIX}rewrite-target`;
      refused.set(key, `${template.invalid}; the rules it rewrites answer 503`);
    }
  }

  // ssl-passthrough needs the deployment's flag: without it the controller reports it and
  // terminates TLS for the host (its requests go to the backend over HTTPS)
  if (opts.sslPassthrough !== true) {
    for (const key of [`${NGINX_PREFIX}ssl-passthrough`, `${ANNOTATION_PREFIX}ssl-passthrough`]) {
      if (keys.includes(key) && !refused.has(key)) refused.set(key, 'needs --enable-ssl-passthrough, which this check was run without: Portico then terminates TLS for the host and sends its requests to the backend over HTTPS (as ingress-nginx without the flag)');
    }
  }
  const verdicts = keys.map((key) => verdictOf(key, failsClosed.has(key), refused.get(key)));
  let effect: IngressEffect = 'routes';
  if (verdicts.some((v) => v.verdict === 'unsupported' || v.verdict === 'unknown')) effect = 'routes-ignoring';
  if (failsClosed.size > 0 || rewriteBroken) effect = 'answers-503';
  // as the Ingress processor reads it: a Go boolean that is true
  if (isCanary(dict) && effect !== 'answers-503') effect = 'canary';
  return { annotations: verdicts, effect };
}

/** One annotation's verdict; `refusal` is the parser's message when its value is refused. */
function verdictOf(key: string, guards: boolean, refusal: string | undefined): AnnotationVerdict {
  if (key.startsWith(ANNOTATION_PREFIX)) {
    if (!PORTICO_NAMES.has(key)) return { key, verdict: 'unknown', note: 'not a Portico annotation: ignored; check its spelling' };
    if (refusal !== undefined) return { key, verdict: 'unsupported', note: refusal };
    return { key, verdict: 'supported', note: "Portico's own annotation" };
  }
  const entry = nginxAnnotation(key);
  if (entry === undefined) return { key, verdict: 'unknown', note: 'not an ingress-nginx annotation Portico knows: ignored; check its spelling' };
  if (guards) return { key, verdict: 'fails-closed', note: `${entry.note}; it restricts access, so every rule of the Ingress answers 503 until it is removed` };
  if (refusal !== undefined) return { key, verdict: 'unsupported', note: refusal };
  return { key, verdict: entry.support, note: entry.note };
}
