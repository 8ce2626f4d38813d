// Headers listed in a ConfigMap that an annotation names (`namespace/name`, or `name` in the
// Ingress's namespace): custom-headers (response headers) and auth-proxy-set-headers
// (headers of the external-auth subrequest). Each data key is a header name, its value the
// header's value, taken literally: nothing in a value is ever interpreted.
//
// The ConfigMap is read through the snapshot, so a change to it (or its creation after the
// Ingress) re-translates exactly the Ingresses that name it (incremental.ts records the read,
// found or not).
//
// Only ConfigMaps in the Ingress's own namespace: a ConfigMap of another namespace would
// expose that namespace's data in responses or auth requests of this one. ingress-nginx
// refuses the same for auth-proxy-set-headers (its allow-cross-namespace-resources, default
// false) and documents it for custom-headers.

import type { Snapshot } from '../store/store.ts';
import { isDict } from './read.ts';
import type { ConfigMapHeaders } from './types.ts';

/** ingress-nginx's header-name rule for both annotations (`^[a-zA-Z\d\-_]+$`). */
const NAME = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * Names that frame or route the message (hop-by-hop, length, encoding) or that the proxy
 * owns: setting them would break the exchange, not add a header.
 */
const FRAMING = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length', 'upgrade', 'te', 'trailer', 'host']);

export interface HeaderRules {
  /** Names refused besides the framing ones (lower case), with why. */
  readonly reserved?: ReadonlyMap<string, string>;
  /** Whether an empty value is allowed (auth-proxy-set-headers: the header is then not sent). */
  readonly allowEmpty: boolean;
  /** Whether `$` may appear in a value (custom-headers: a literal `$`, as ingress-nginx escapes it). */
  readonly allowDollar: boolean;
}

/** `name` (in `namespace`) or `namespace/name`, DNS-1123 subdomain names. */
export function parseConfigMapRef(raw: string, namespace: string): { namespace: string; name: string } | undefined {
  const parts = raw.trim().split('/');
  const name = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
  if (parts.length === 1 && name.test(parts[0]!)) return { namespace, name: parts[0]! };
  if (parts.length === 2 && name.test(parts[0]!) && name.test(parts[1]!)) return { namespace: parts[0]!, name: parts[1]! };
  return undefined;
}

/**
 * The headers of the ConfigMap `raw` names, or why they cannot be used (every invalid entry
 * named, values never quoted: a ConfigMap may hold anything). One invalid entry makes the
 * whole ConfigMap unusable, as ingress-nginx denies the location then.
 */
export function readConfigMapHeaders(raw: unknown, snapshot: Snapshot, namespace: string, rules: HeaderRules): ConfigMapHeaders | { invalid: string } {
  if (typeof raw !== 'string') return { invalid: 'it is not a string' };
  const ref = parseConfigMapRef(raw, namespace);
  if (ref === undefined) return { invalid: 'it is not a ConfigMap name ("name" or "namespace/name")' };
  const key = `${ref.namespace}/${ref.name}`;
  if (ref.namespace !== namespace) return { invalid: `ConfigMap "${key}" is in another namespace than the Ingress ("${namespace}"); only ConfigMaps of the Ingress's namespace may be used` };
  const cm = snapshot.get('ConfigMap', key);
  if (cm === undefined) return { invalid: `ConfigMap "${key}" was not found` };
  const data = (cm as { data?: unknown }).data ?? {};
  if (!isDict(data)) return { invalid: `ConfigMap "${key}" has no readable data` };
  const bad: string[] = [];
  const entries: [string, string][] = [];
  const seen = new Set<string>();
  for (const name of Object.keys(data).sort()) {
    const value = data[name];
    const lower = name.toLowerCase();
    if (!NAME.test(name)) bad.push(`key ${JSON.stringify(name.slice(0, 64))} is not a header name (letters, digits, "-", "_")`);
    else if (FRAMING.has(lower)) bad.push(`"${name}" cannot be set: it frames or routes the message`);
    else if (rules.reserved?.has(lower)) bad.push(`"${name}" cannot be set: ${rules.reserved.get(lower)}`);
    else if (seen.has(lower)) bad.push(`"${name}" is listed twice (header names are case-insensitive)`);
    else if (typeof value !== 'string') bad.push(`the value of "${name}" is not a string`);
    else if (value === '' && !rules.allowEmpty) bad.push(`the value of "${name}" is empty`);
    else if (!/^[\x20-\x7e]*$/.test(value)) bad.push(`the value of "${name}" has characters outside printable ASCII (line breaks, tabs, control or non-ASCII characters)`);
    else if (!rules.allowDollar && value.includes('$')) bad.push(`the value of "${name}" names an nginx variable ("$"), which Portico does not fill in`);
    else {
      seen.add(lower);
      entries.push([lower, value]);
    }
  }
  if (bad.length > 0) {
    return { invalid: `ConfigMap "${key}": ${bad.slice(0, 5).join('; ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''}` };
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return Object.freeze({ configMap: key, headers: Object.freeze(entries.flat()) });
}
