// The annotation group that restricts who reaches an Ingress's rules: source address lists
// (allowlist-source-range, alias whitelist-source-range; denylist-source-range) and basic
// authentication (auth-type: basic, auth-secret, auth-secret-type, auth-realm). Each name is
// read under `portico.dev/<name>` or, in its absence, `nginx.ingress.kubernetes.io/<name>`.
//
// Fail closed: a value that cannot be honoured (an invalid CIDR, an unknown auth-type, a
// missing or unreadable Secret) never leaves the rules open. Every rule of the Ingress then
// answers 503 with a problem, as ingress-nginx denies such a location (its
// LocationDeniedError, rendered `return 503`). Problems never quote passwords or hashes.

import type { Snapshot } from '../store/store.ts';
import { parseCidr } from '../values/cidr.ts';
import type { ProblemReason } from './problems.ts';
import { describe, isDict } from './read.ts';
import type { BasicAuth, BasicAuthUser, RouteAction, RouteFilters, SourceRange } from './types.ts';

const PORTICO = 'portico.dev/';
const NGINX = 'nginx.ingress.kubernetes.io/';

/** The group's names, without prefix (whitelist-source-range is allowlist's older name). */
export const ACCESS_OPTION_NAMES = [
  'allowlist-source-range',
  'whitelist-source-range',
  'denylist-source-range',
  'auth-type',
  'auth-secret',
  'auth-secret-type',
  'auth-realm',
  'satisfy',
] as const;
type Name = (typeof ACCESS_OPTION_NAMES)[number];

/** The group's `portico.dev/` names (known Portico annotations). */
export const ACCESS_OPTION_ANNOTATIONS: readonly string[] = ACCESS_OPTION_NAMES.map((n) => PORTICO + n);

export type AccessReport = (reason: ProblemReason, message: string) => void;

export interface AccessOptions {
  /** The filters every rule of the Ingress gets (empty object when none). */
  readonly filters: Pick<RouteFilters, 'sourceRange' | 'basicAuth' | 'satisfy'>;
  /** Non-null when an access control cannot be honoured: every rule answers this instead. */
  readonly denied: RouteAction | null;
}

export const NO_ACCESS_OPTIONS: AccessOptions = Object.freeze({ filters: Object.freeze({}), denied: null });

const DENIED_RANGE: RouteAction = Object.freeze({ kind: 'direct', status: 503, body: 'service unavailable: this route\'s source address list is invalid' });
const DENIED_AUTH: RouteAction = Object.freeze({ kind: 'direct', status: 503, body: 'service unavailable: this route\'s authentication is misconfigured' });

/** Reads `name` under either prefix, or under one of `aliases` (older names) in its absence. */
function read(annotations: Record<string, unknown>, name: Name, report: AccessReport, aliases: readonly Name[] = []): [string, unknown] | undefined {
  const found: [string, unknown][] = [];
  for (const n of [name, ...aliases]) {
    for (const prefix of [PORTICO, NGINX]) {
      const v = annotations[prefix + n];
      if (v !== undefined) found.push([prefix + n, v]);
    }
  }
  if (found.length === 0) return undefined;
  if (found.length > 1) {
    report('InvalidAnnotation', `Annotations ${found.map(([k]) => `"${k}"`).join(' and ')} are all set; "${found[0]![0]}" is used and the others are ignored`);
  }
  return found[0];
}

/**
 * A comma-separated list of CIDRs or addresses (ingress-nginx's ParseIPNets: every entry must
 * parse, spaces around entries are allowed); undefined when empty or any entry is invalid.
 */
export function parseSourceList(raw: string): string[] | undefined {
  const out: string[] = [];
  for (const part of raw.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    if (parseCidr(entry) === undefined) return undefined;
    if (!out.includes(entry)) out.push(entry);
  }
  return out.length === 0 ? undefined : out;
}

/**
 * The access controls an Ingress's annotations ask for. `namespace` is the Ingress's (an
 * auth-secret without `ns/` lives there); Secrets are read through `snapshot`, so a change
 * to one re-translates the Ingresses that read it.
 */
export function readAccessOptions(annotations: unknown, snapshot: Snapshot, namespace: string, report: AccessReport): AccessOptions {
  if (!isDict(annotations)) return NO_ACCESS_OPTIONS;
  const filters: { sourceRange?: SourceRange; basicAuth?: BasicAuth; satisfy?: 'any' } = {};
  let denied: RouteAction | null = null;

  const range: { allow?: readonly string[]; deny?: readonly string[] } = {};
  const lists: [Name, readonly Name[], 'allow' | 'deny'][] = [
    ['allowlist-source-range', ['whitelist-source-range'], 'allow'],
    ['denylist-source-range', [], 'deny'],
  ];
  for (const [name, aliases, slot] of lists) {
    const found = read(annotations, name, report, aliases);
    if (found === undefined) continue;
    const list = typeof found[1] === 'string' ? parseSourceList(found[1]) : undefined;
    if (list === undefined) {
      report(
        'InvalidAnnotation',
        `Annotation "${found[0]}" has the value ${describe(found[1])}, which is not valid; accepted values are comma-separated IP addresses or CIDRs such as "10.0.0.0/8, 2001:db8::/32, 192.0.2.7". Every rule of this Ingress answers 503 until it is fixed`,
      );
      denied = DENIED_RANGE;
      continue;
    }
    range[slot] = Object.freeze(list);
  }
  if (range.allow !== undefined || range.deny !== undefined) filters.sourceRange = Object.freeze(range);

  const auth = readBasicAuth(annotations, snapshot, namespace, report);
  if (auth === 'denied') denied ??= DENIED_AUTH;
  else if (auth !== undefined) filters.basicAuth = auth;

  if (readSatisfy(annotations, report) === 'any') filters.satisfy = 'any';

  if (denied === null && filters.sourceRange === undefined && filters.basicAuth === undefined && filters.satisfy === undefined) return NO_ACCESS_OPTIONS;
  return Object.freeze({ filters: Object.freeze(filters), denied });
}

/**
 * satisfy: "any" or "all" (ingress-nginx's options, surrounding spaces ignored). Anything else
 * is a problem and means "all", the stricter reading: every check must pass.
 */
function readSatisfy(annotations: Record<string, unknown>, report: AccessReport): 'any' | 'all' {
  const found = read(annotations, 'satisfy', report);
  if (found === undefined) return 'all';
  const v = typeof found[1] === 'string' ? found[1].trim() : undefined;
  if (v === 'any' || v === 'all') return v;
  report('InvalidAnnotation', `Annotation "${found[0]}" has the value ${describe(found[1])}, which is not valid; accepted values are "any" or "all". "all" is used: every access check of the rules must pass`);
  return 'all';
}

// ---- basic authentication ------------------------------------------------------------------

/** The realm ingress-nginx uses when auth-realm is absent. */
export const DEFAULT_REALM = '';

function readBasicAuth(annotations: Record<string, unknown>, snapshot: Snapshot, namespace: string, report: AccessReport): BasicAuth | 'denied' | undefined {
  const type = read(annotations, 'auth-type', report);
  if (type === undefined) {
    // ingress-nginx reads nothing of the group without auth-type (the route stays open); say
    // so, since an auth-secret alone looks like protection and is not
    const stray = (['auth-secret', 'auth-secret-type', 'auth-realm'] as const).map((n) => read(annotations, n, () => {})).filter((v) => v !== undefined);
    if (stray.length > 0) {
      report('InvalidAnnotation', `${stray.map(([k]) => `"${k}"`).join(', ')} ${stray.length === 1 ? 'has' : 'have'} no effect without auth-type "basic"; the rules are not protected by basic authentication`);
    }
    return undefined;
  }
  const kind = typeof type[1] === 'string' ? type[1].trim() : undefined;
  if (kind !== 'basic') {
    report(
      'InvalidAnnotation',
      `Annotation "${type[0]}" has the value ${describe(type[1])}, which Portico does not enforce; accepted value is "basic" (digest authentication is not available). Every rule of this Ingress answers 503 until it is changed`,
    );
    return 'denied';
  }
  const secretAnn = read(annotations, 'auth-secret', report);
  const secretRef = secretAnn !== undefined && typeof secretAnn[1] === 'string' ? parseSecretRef(secretAnn[1].trim(), namespace) : undefined;
  if (secretRef === undefined) {
    report(
      'InvalidAnnotation',
      secretAnn === undefined
        ? 'auth-type "basic" needs auth-secret (the name of a Secret with the users, or "namespace/name"); every rule of this Ingress answers 503 until it is set'
        : `Annotation "${secretAnn[0]}" has the value ${describe(secretAnn[1])}, which is not a Secret name ("name" or "namespace/name"); every rule of this Ingress answers 503 until it is fixed`,
    );
    return 'denied';
  }
  let format: 'auth-file' | 'auth-map' = 'auth-file';
  const typeAnn = read(annotations, 'auth-secret-type', report);
  if (typeAnn !== undefined) {
    const v = typeof typeAnn[1] === 'string' ? typeAnn[1].trim() : undefined;
    if (v !== 'auth-file' && v !== 'auth-map') {
      report('InvalidAnnotation', `Annotation "${typeAnn[0]}" has the value ${describe(typeAnn[1])}, which is not valid; accepted values are "auth-file" or "auth-map". Every rule of this Ingress answers 503 until it is fixed`);
      return 'denied';
    }
    format = v;
  }
  let realm = DEFAULT_REALM;
  const realmAnn = read(annotations, 'auth-realm', report);
  if (realmAnn !== undefined) {
    // the realm is a quoted-string in WWW-Authenticate: quotes, backslashes and controls go
    if (typeof realmAnn[1] === 'string') realm = realmAnn[1].replace(/["\\\x00-\x1f\x7f]/g, '').trim().slice(0, 256);
    else report('InvalidAnnotation', `Annotation "${realmAnn[0]}" has the value ${describe(realmAnn[1])}, not a string; the realm is empty`);
  }

  const where = `auth-secret "${secretRef.namespace}/${secretRef.name}"`;
  const secret = snapshot.get('Secret', `${secretRef.namespace}/${secretRef.name}`);
  if (secret === undefined) {
    report('AuthSecretInvalid', `${where} was not found; every rule of this Ingress answers 503 until it exists`);
    return 'denied';
  }
  const data = (secret as { data?: unknown }).data;
  const users = isDict(data) ? readUsers(data, format, where, report) : undefined;
  if (users === undefined) {
    if (!isDict(data)) report('AuthSecretInvalid', `${where} has no data; every rule of this Ingress answers 503 until it holds users`);
    return 'denied';
  }
  return Object.freeze({ realm, users: Object.freeze(users) });
}

/** `name` (in the Ingress's namespace) or `namespace/name`, both DNS-1123 names. */
export function parseSecretRef(raw: string, namespace: string): { namespace: string; name: string } | undefined {
  const parts = raw.split('/');
  const name = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
  if (parts.length === 1 && name.test(parts[0]!)) return { namespace, name: parts[0]! };
  if (parts.length === 2 && name.test(parts[0]!) && name.test(parts[1]!)) return { namespace: parts[0]!, name: parts[1]! };
  return undefined;
}

/** The hash formats the proxy verifies. */
export function hashFormat(hash: string): 'bcrypt' | 'apr1' | 'sha' | undefined {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  if (/^\$apr1\$[^$]{0,8}\$[./A-Za-z0-9]{22}$/.test(hash)) return 'apr1';
  if (/^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(hash)) return 'sha';
  return undefined;
}

/**
 * Users from the Secret's data (base64, as the API serves it). auth-file: key `auth`, an
 * htpasswd file (`user:hash` per line, `#` comments and blank lines skipped); auth-map: one key
 * per user, the value its hash. Entries whose hash Portico cannot verify (crypt(3), plain
 * text) are skipped with a problem; no usable user at all denies the Ingress (503).
 */
function readUsers(data: Record<string, unknown>, format: 'auth-file' | 'auth-map', where: string, report: AccessReport): BasicAuthUser[] | undefined {
  const users: BasicAuthUser[] = [];
  const skipped: string[] = [];
  const add = (user: string, hash: string): void => {
    if (user === '' || user.includes(':') || /[\x00-\x1f\x7f]/.test(user)) {
      skipped.push(`an entry with an invalid user name`);
      return;
    }
    if (hashFormat(hash) === undefined) {
      skipped.push(`user "${user}" (its hash is not bcrypt, apr1 or {SHA})`);
      return;
    }
    if (!users.some((u) => u.user === user)) users.push(Object.freeze({ user, hash }));
  };
  if (format === 'auth-file') {
    const file = decode(data['auth']);
    if (file === undefined) {
      report('AuthSecretInvalid', `${where} has no key "auth" holding an htpasswd file (auth-secret-type "auth-file"); every rule of this Ingress answers 503 until it does`);
      return undefined;
    }
    const lines = file.split(/\r?\n/);
    for (let i = 0; i < lines.length && i < 10_000; i++) {
      const line = lines[i]!.trim();
      if (line === '' || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      if (colon === -1) {
        skipped.push(`line ${i + 1} (no "user:hash")`);
        continue;
      }
      add(line.slice(0, colon), line.slice(colon + 1).trim());
    }
  } else {
    for (const key of Object.keys(data).sort()) {
      const hash = decode(data[key]);
      if (hash === undefined) skipped.push(`key "${key}" (not base64 text)`);
      else add(key, hash.trim());
    }
  }
  if (skipped.length > 0) report('AuthSecretInvalid', `${where}: skipped ${skipped.slice(0, 5).join('; ')}${skipped.length > 5 ? ` and ${skipped.length - 5} more` : ''}`);
  if (users.length === 0) {
    report('AuthSecretInvalid', `${where} holds no user with a usable hash (bcrypt, apr1 or {SHA}); every rule of this Ingress answers 503 until it does`);
    return undefined;
  }
  return users;
}

function decode(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v.replace(/\s/g, ''))) return undefined;
  return Buffer.from(v, 'base64').toString('utf8');
}
