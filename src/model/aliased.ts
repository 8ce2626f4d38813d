// Annotations Portico reads under two names: `portico.dev/<name>` and ingress-nginx's
// `nginx.ingress.kubernetes.io/<name>`, with the same meaning. One reader for every group
// (route-options, redirect-options, canary-options), so the rule is the same everywhere: the
// Portico name wins, and both set is a problem.

const PORTICO = 'portico.dev/';
const NGINX = 'nginx.ingress.kubernetes.io/';

export type AliasReport = (reason: 'InvalidAnnotation', message: string) => void;

/** [the key it was found under, its raw value], or undefined when neither name is set. */
export function readAliased(annotations: Record<string, unknown>, name: string, report: AliasReport): [string, unknown] | undefined {
  const ours = annotations[PORTICO + name];
  const theirs = annotations[NGINX + name];
  if (ours !== undefined) {
    if (theirs !== undefined) {
      report('InvalidAnnotation', `Annotations "${PORTICO + name}" and "${NGINX + name}" are both set; "${PORTICO + name}" is used and "${NGINX + name}" is ignored`);
    }
    return [PORTICO + name, ours];
  }
  return theirs === undefined ? undefined : [NGINX + name, theirs];
}

/** The `portico.dev/` names of a group (known Portico annotations). */
export function porticoNames(names: readonly string[]): readonly string[] {
  return names.map((n) => PORTICO + n);
}
