// ingress-nginx's ssl-passthrough, read under `portico.dev/ssl-passthrough` or, in its absence,
// `nginx.ingress.kubernetes.io/ssl-passthrough`: "true" makes every host of the Ingress a
// passthrough host. TLS connections whose SNI names such a host are not terminated: the HTTPS
// listener reads the ClientHello, opens a TCP connection to an endpoint of the host's `/` rule
// and pipes the bytes both ways (proxy/ssl-passthrough.ts), so the backend's own certificate
// is what the client sees. Host-level, as ingress-nginx's server-level flag: builder.ts decides
// per host (applyPassthrough). Only with --enable-ssl-passthrough; without it the annotation is
// a problem and the host is served as today, its requests proxied to the backend over HTTPS
// (what ingress-nginx does without the flag: its upstream is marked https).

import { GO_BOOL_ACCEPTED, parseGoBool } from '../values/go-bool.ts';
import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { describe } from './read.ts';

export const PASSTHROUGH_OPTION_NAMES = ['ssl-passthrough'] as const;
export const PASSTHROUGH_OPTION_ANNOTATIONS: readonly string[] = porticoNames(PASSTHROUGH_OPTION_NAMES);

/** Whether the Ingress asks for passthrough; an invalid value is a problem and means "false". */
export function readPassthroughOption(annotations: Record<string, unknown>, report: AliasReport): boolean {
  const found = readAliased(annotations, 'ssl-passthrough', report);
  if (found === undefined) return false;
  // ingress-nginx reads it with Go's strconv.ParseBool
  const v = typeof found[1] === 'string' ? parseGoBool(found[1].trim()) : undefined;
  if (v !== undefined) return v;
  report('InvalidAnnotation', `Annotation "${found[0]}" has the value ${describe(found[1])}, which is not valid; accepted values are ${GO_BOOL_ACCEPTED}; TLS is terminated by Portico as for every host`);
  return false;
}
