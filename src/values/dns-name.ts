// DNS names, every shape we check, in one place. Kubernetes names most objects with RFC 1123
// labels and subdomains; host names (rule hosts, certificate names, SNI) add length limits.
// Every check here is on lower-case text: callers that accept upper case lower it first.

/** RFC 1123 label: letters, digits and '-', starting and ending with a letter or digit. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Labels joined by single dots. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A letter or digit at each end, letters, digits, '-' and '.' between. */
const DOTTED = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Longest label (RFC 1035 §2.3.4). */
export const MAX_LABEL = 63;
/** Longest name, without a trailing dot (RFC 1035 §2.3.4, Kubernetes' DNS-1123 subdomain). */
export const MAX_NAME = 253;

/**
 * The shape of one RFC 1123 label, as Kubernetes names namespaces and Services. The length
 * is not checked: the flags that take one never did (Kubernetes would allow MAX_LABEL).
 */
export function isDnsLabel(name: string): boolean {
  return LABEL.test(name);
}

/** The shape of an RFC 1123 subdomain (labels joined by single dots); length not checked (MAX_NAME). */
export function isDnsSubdomain(name: string): boolean {
  return SUBDOMAIN.test(name);
}

/**
 * A looser subdomain: dots may also be doubled or touch a '-' ("a..b" passes). What our
 * flags accept for object names (--ingress-class, --election-id, Secret names), and what the
 * Helm chart's values.schema.json mirrors; kept so the two agree.
 */
export function isDottedName(name: string): boolean {
  return DOTTED.test(name);
}

/**
 * A host name: 1 to MAX_NAME characters of labels of at most MAX_LABEL, joined by single dots
 * (no trailing dot, no wildcard). IP addresses pass; callers that refuse them say so.
 */
export function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME) return false;
  for (const label of name.split('.')) {
    if (label.length > MAX_LABEL || !LABEL.test(label)) return false;
  }
  return true;
}
