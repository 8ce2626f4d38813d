// ingress-nginx's `default-backend` and `custom-http-errors` annotations, read under
// `portico.dev/<name>` or, in its absence, `nginx.ingress.kubernetes.io/<name>`:
//   default-backend     a Service of the Ingress's namespace (its first port): requests of
//                       the Ingress's rules whose Service has no ready endpoint go there
//                       (with X-Code: 503 and the other X-* headers below), instead of 503;
//   custom-http-errors  comma-separated statuses (400-599): an upstream answer with one of
//                       them is replaced by the default-backend's answer to a GET-like
//                       request for `/` carrying X-Code, X-Format (the Accept header),
//                       X-Original-URI, X-Namespace, X-Ingress-Name, X-Service-Name and
//                       X-Service-Port, as ingress-nginx's error pages are built;
//   disable-proxy-intercept-errors  "true": upstream answers are relayed as they are, whatever
//                       custom-http-errors lists (the default-backend still takes requests
//                       without endpoints), as nginx's proxy_intercept_errors off.
// The global default backend (--default-backend-service, ingress-nginx's flag of that name)
// takes the place of default-backend on Ingresses that do not name one, with the codes of
// their own custom-http-errors or else the global --custom-http-errors (ingress-nginx's
// ConfigMap key); without it, custom-http-errors without default-backend is a problem and
// upstream answers are relayed as they are.

import { GO_BOOL_ACCEPTED, parseGoBool } from '../values/go-bool.ts';
import type { Snapshot } from '../store/store.ts';
import { objectKey } from '../store/types.ts';
import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { BackendResolver } from './backend.ts';
import { describe } from './read.ts';
import type { Backend, ErrorBackend } from './types.ts';

export const ERROR_BACKEND_OPTION_NAMES = ['default-backend', 'custom-http-errors', 'disable-proxy-intercept-errors'] as const;
export const ERROR_BACKEND_OPTION_ANNOTATIONS: readonly string[] = porticoNames(ERROR_BACKEND_OPTION_NAMES);

type Report = (reason: 'InvalidAnnotation' | 'ServiceNotFound' | 'ServicePortNotFound', message: string) => void;

/** Statuses 400-599, comma-separated (spaces allowed), or a reason. */
export function parseErrorCodes(raw: string): number[] | { invalid: string } {
  const out: number[] = [];
  for (const part of raw.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    if (!/^\d{3}$/.test(t) || Number(t) < 400 || Number(t) > 599) return { invalid: `"${t}" is not a status from 400 to 599` };
    if (!out.includes(Number(t))) out.push(Number(t));
  }
  return out.length === 0 ? { invalid: 'it lists no status' } : out.sort((a, b) => a - b);
}

/** --default-backend-service and --custom-http-errors (ingress-processor.ts ProcessOptions). */
export interface GlobalErrorBackend {
  readonly service: { readonly namespace: string; readonly name: string };
  /** Upstream statuses replaced by its answer where the Ingress does not list its own; may be empty. */
  readonly codes: readonly number[];
}

/**
 * The global default backend as an error backend with `codes`, or undefined while its
 * Service does not exist or has no port (said once, by globalDefaultRoute, not per Ingress).
 */
function globalErrorBackend(global: GlobalErrorBackend, codes: readonly number[], snapshot: Snapshot): ErrorBackend | undefined {
  const backend = globalBackend(global.service, snapshot);
  return backend === null ? undefined : Object.freeze({ backend, codes });
}

/** The Service of --default-backend-service on its first port, or null when unusable. */
export function globalBackend(ref: GlobalErrorBackend['service'], snapshot: Snapshot): Backend | null {
  const port = snapshot.get('Service', objectKey(ref))?.spec?.ports?.[0];
  if (port === undefined) return null;
  const r = new BackendResolver(snapshot, ref.namespace).resolve({ service: { name: ref.name, port: { number: port.port } } }, '', null);
  return r.ok ? Object.freeze(r.backend) : null;
}

/**
 * The Ingress's error backend, or undefined when default-backend is not set (and there is no
 * global one) or unusable.
 */
export function readErrorBackendOptions(
  annotations: unknown,
  snapshot: Snapshot,
  namespace: string,
  backends: BackendResolver,
  report: Report,
  global?: GlobalErrorBackend,
): ErrorBackend | undefined {
  if (annotations === null || typeof annotations !== 'object') return global === undefined ? undefined : globalErrorBackend(global, global.codes, snapshot);
  const a = annotations as Record<string, unknown>;
  const aliasReport: AliasReport = (reason, message) => report(reason, message);
  const svcFound = readAliased(a, 'default-backend', aliasReport);
  const codesFound = readAliased(a, 'custom-http-errors', aliasReport);
  if (svcFound === undefined && codesFound === undefined && global === undefined) return undefined;

  let codes: readonly number[] = [];
  if (codesFound !== undefined) {
    const parsed = typeof codesFound[1] === 'string' ? parseErrorCodes(codesFound[1]) : { invalid: `it is ${describe(codesFound[1])}` };
    if ('invalid' in parsed) report('InvalidAnnotation', `Annotation "${codesFound[0]}" has the value ${describe(codesFound[1])}, which is not valid: ${parsed.invalid}; accepted values are comma-separated statuses from 400 to 599, such as "404,503". Upstream answers are relayed as they are`);
    else codes = Object.freeze(parsed);
  }
  const noIntercept = readAliased(a, 'disable-proxy-intercept-errors', aliasReport);
  let intercept = true;
  if (noIntercept !== undefined) {
    const v = typeof noIntercept[1] === 'string' ? parseGoBool(noIntercept[1].trim()) : undefined;
    if (v === true) {
      codes = Object.freeze([]);
      intercept = false;
    } else if (v === undefined) report('InvalidAnnotation', `Annotation "${noIntercept[0]}" has the value ${describe(noIntercept[1])}, which is not valid; accepted values are ${GO_BOOL_ACCEPTED}. Upstream errors are intercepted as custom-http-errors says`);
  }
  if (svcFound === undefined && global !== undefined) {
    // the Ingress's own codes, else the global ones; disable-proxy-intercept-errors still counts
    return globalErrorBackend(global, !intercept || codesFound !== undefined ? codes : global.codes, snapshot);
  }
  if (svcFound === undefined) {
    if (codes.length > 0) {
      report('InvalidAnnotation', `Annotation "${codesFound![0]}" has no effect without default-backend: Portico has no global default backend to send error pages to; upstream answers are relayed as they are`);
    }
    return undefined;
  }
  const name = typeof svcFound[1] === 'string' ? svcFound[1].trim() : '';
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) {
    report('InvalidAnnotation', `Annotation "${svcFound[0]}" has the value ${describe(svcFound[1])}, which is not valid; accepted values are the name of a Service in the Ingress's namespace ("${namespace}"), without a namespace. It is ignored`);
    return undefined;
  }
  const svc = snapshot.get('Service', objectKey({ namespace, name }));
  const port = svc?.spec?.ports?.[0];
  if (svc === undefined || port === undefined) {
    report(
      svc === undefined ? 'ServiceNotFound' : 'ServicePortNotFound',
      `Annotation "${svcFound[0]}" names Service "${namespace}/${name}", which ${svc === undefined ? 'does not exist' : 'has no port'}; requests without endpoints answer 503${codes.length > 0 ? ' and upstream error answers are relayed as they are' : ''}`,
    );
    return undefined;
  }
  const r = backends.resolve({ service: { name, port: { number: port.port } } }, '', null);
  if (!r.ok) {
    report('InvalidAnnotation', `Annotation "${svcFound[0]}": ${r.message}; it is ignored`);
    return undefined;
  }
  // --custom-http-errors reaches an Ingress that names its own default-backend but no codes
  // (ingress-nginx inherits its http-level error_page there, and serves those pages from the
  // global default backend; here they come from the Ingress's own)
  const inherited = codesFound === undefined && intercept && global !== undefined ? global.codes : codes;
  return Object.freeze({ backend: Object.freeze(r.backend), codes: inherited });
}
