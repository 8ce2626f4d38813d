// --nginx-configmap NS/NAME: ingress-nginx's controller ConfigMap (its global settings) read at
// start and turned into Portico's own flags, so a cluster that moves over keeps its global
// body limit, HSTS, timeouts, allow-lists, global auth and so on without copying them by hand.
//
// Each key with a Portico equivalent becomes that flag and is checked by the flag's own parser
// (one key at a time: a bad value drops that key with a message, never the start-up). The
// ConfigMap's values are applied after the command line and the environment: during a
// side-by-side migration the ConfigMap stays the one place those settings are kept, and the
// chart, which renders every setting as a flag, cannot shadow it. Every key is reported: applied,
// ignored (no effect in Portico), or unsupported (what to do instead). An edit later is applied
// by replacing the workers one by one (workers/pool.ts applySettings), or, in one process,
// reported (runtime/nginx-configmap-watch.ts).

import { parseGoBool } from '../values/go-bool.ts';

/** How one ingress-nginx key maps to Portico, given the whole ConfigMap (some keys pair up). */
type KeyMapping =
  | { kind: 'flag'; flag: string; value: (v: string, data: Readonly<Record<string, string>>) => string | null }
  | { kind: 'ignored'; note: string }
  | { kind: 'unsupported'; note: string };

const same = (v: string): string => v.trim();
/** ingress-nginx timeouts are whole seconds without a unit. */
const seconds = (v: string): string | null => (/^\d{1,6}$/.test(v.trim()) ? `${v.trim()}s` : null);
/** ingress-nginx reads its booleans with Go's strconv.ParseBool: 1/t/T/TRUE/true/True and their false twins. */
const goBool = (v: string): string | null => {
  const b = parseGoBool(v.trim());
  return b === undefined ? null : String(b);
};
const flag = (name: string, value: (v: string, data: Readonly<Record<string, string>>) => string | null = same): KeyMapping => ({ kind: 'flag', flag: name, value });
const ignored = (note: string): KeyMapping => ({ kind: 'ignored', note });
const unsupported = (note: string): KeyMapping => ({ kind: 'unsupported', note });

/** The CIDRs ingress-nginx trusts for X-Forwarded-For / the PROXY source (proxy-real-ip-cidr, default all). */
function realIpCidrs(data: Readonly<Record<string, string>>): string {
  const v = (data['proxy-real-ip-cidr'] ?? '').trim();
  return v === '' ? '0.0.0.0/0,::/0' : v;
}

const KEYS: Readonly<Record<string, KeyMapping>> = {
  'proxy-body-size': flag('proxy-body-size'),
  'http-redirect-code': flag('http-redirect-code'),
  hsts: flag('hsts', goBool),
  'hsts-max-age': flag('hsts-max-age'),
  'hsts-include-subdomains': flag('hsts-include-subdomains', goBool),
  'proxy-connect-timeout': flag('connect-timeout', seconds),
  // nginx's proxy_read_timeout also bounds pauses in the body; Portico's flag bounds the wait
  // for the response head (a route's proxy-read-timeout annotation covers both)
  'proxy-read-timeout': flag('response-header-timeout', seconds),
  'client-body-timeout': flag('client-body-timeout', seconds),
  'client-body-buffer-size': flag('client-body-buffer-size'),
  'whitelist-source-range': flag('whitelist-source-range'),
  'denylist-source-range': flag('denylist-source-range'),
  'limit-req-status-code': flag('limit-req-status-code'),
  'limit-conn-status-code': flag('limit-conn-status-code'),
  'use-proxy-protocol': flag('use-proxy-protocol', goBool),
  'use-forwarded-headers': flag('trusted-proxies', (v, data) => (goBool(v) === 'true' ? realIpCidrs(data) : null)),
  'proxy-real-ip-cidr': ignored('read with use-forwarded-headers (as --trusted-proxies)'),
  'global-auth-url': flag('global-auth-url'),
  'global-auth-method': flag('global-auth-method'),
  'global-auth-signin': flag('global-auth-signin'),
  'global-auth-response-headers': flag('global-auth-response-headers'),
  'allow-snippet-annotations': ignored('Portico never executes snippets'),
  'annotations-risk-level': ignored('Portico parses every annotation with a typed parser; none is interpreted as configuration'),
  'strict-validate-path-type': ignored('Portico validates paths of every pathType'),
  // a global default: an Ingress's own ssl-redirect / force-ssl-redirect annotation overrides it
  'ssl-redirect': flag('ssl-redirect', goBool),
  'force-ssl-redirect': flag('force-ssl-redirect', goBool),
  // the pages come from --default-backend-service (ingress-nginx's flag, not a ConfigMap key)
  'custom-http-errors': flag('custom-http-errors'),
  'proxy-send-timeout': flag('send-timeout', seconds),
  'enable-opentelemetry': unsupported('use --otlp-endpoint (OTLP over HTTP)'),
  'log-format-upstream': unsupported('the access log is JSON; choose fields with --access-log-fields'),
  'log-format-escape-json': ignored('the access log is always JSON'),
  'enable-underscores-in-headers': unsupported('Portico passes header names with underscores on'),
  'use-http2': unsupported('use --http2'),
  'server-tokens': ignored('Portico sends no Server header of its own'),
};

export interface NginxConfigMapOutcome {
  /** Flags to apply after the command line (`--flag=value`). */
  readonly args: readonly string[];
  /** One line per key, for the log: what happened to it. */
  readonly applied: readonly { key: string; flag: string; value: string }[];
  readonly ignored: readonly { key: string; note: string }[];
  readonly unsupported: readonly { key: string; note: string }[];
  readonly invalid: readonly { key: string; message: string }[];
}

/**
 * The flags ingress-nginx's ConfigMap `data` asks for. `check(args)` parses the command line
 * with extra flags and throws on a bad value (settings.ts parseSettings); each key is checked
 * alone, so one bad value costs only itself.
 */
export function nginxConfigMapFlags(
  data: Readonly<Record<string, string>>,
  check: (extra: readonly string[]) => void,
  /** Whether the command line or environment set the flag already (--trusted-proxies is then kept: never widened). */
  isSet: (flag: string) => boolean = () => false,
): NginxConfigMapOutcome {
  const args: string[] = [];
  const applied: { key: string; flag: string; value: string }[] = [];
  const ignoredKeys: { key: string; note: string }[] = [];
  const unsupportedKeys: { key: string; note: string }[] = [];
  const invalid: { key: string; message: string }[] = [];
  for (const key of Object.keys(data).sort()) {
    const m = KEYS[key];
    if (m === undefined) {
      unsupportedKeys.push({ key, note: 'no Portico equivalent' });
      continue;
    }
    if (m.kind === 'ignored') {
      ignoredKeys.push({ key, note: m.note });
      continue;
    }
    if (m.kind === 'unsupported') {
      unsupportedKeys.push({ key, note: m.note });
      continue;
    }
    const raw = data[key]!;
    if (m.flag === 'trusted-proxies' && isSet('trusted-proxies')) {
      ignoredKeys.push({ key, note: '--trusted-proxies is set and is kept: the ConfigMap never widens whom X-Forwarded-* is believed from' });
      continue;
    }
    const value = m.value(raw, data);
    if (value === null) {
      if (key === 'use-forwarded-headers' && goBool(raw) === 'false') ignoredKeys.push({ key, note: '"false": X-Forwarded-* is trusted only from --trusted-proxies' });
      else invalid.push({ key, message: `"${raw}" is not a value Portico can use for --${m.flag}` });
      continue;
    }
    const arg = `--${m.flag}=${value}`;
    try {
      check([arg]);
    } catch (err) {
      invalid.push({ key, message: (err as Error).message });
      continue;
    }
    args.push(arg);
    applied.push({ key, flag: m.flag, value });
  }
  return { args, applied, ignored: ignoredKeys, unsupported: unsupportedKeys, invalid };
}

/** `NS/NAME` of --nginx-configmap, or an error message. */
export function parseConfigMapRef(raw: string): { namespace: string; name: string } | string {
  const m = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/.exec(raw.trim());
  return m === null ? `"${raw}" is not NAMESPACE/NAME (ingress-nginx's --configmap, e.g. ingress-nginx/ingress-nginx-controller)` : { namespace: m[1]!, name: m[3]! };
}
