// What a request carries to a route's error backend (ingress-nginx default-backend and
// custom-http-errors), as ingress-nginx's error locations send it: X-Code (the status being
// replaced, or 503 when the Service has no endpoint), X-Format (the client's Accept),
// X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port; and, for an error page, the
// original target in X-Original-URI while the request itself becomes one for `/`.
// X-Request-ID is already on every upstream request.

import type { Route } from '../../model/types.ts';
import { setHeader } from './request-headers.ts';

/** The parts of a request head this edits. */
export interface ErrorRequest {
  headers: string[];
  url: string;
}

export function setErrorHeaders(req: ErrorRequest, originalUri: string, route: Route, code: number, page: boolean): void {
  const h = req.headers;
  let accept = '';
  for (let i = 0; i < h.length; i += 2) {
    if (h[i]!.length === 6 && h[i]!.toLowerCase() === 'accept') {
      accept = h[i + 1]!;
      break;
    }
  }
  setHeader(h, 'x-code', String(code));
  setHeader(h, 'x-format', accept);
  if (page) {
    setHeader(h, 'x-original-uri', originalUri);
    req.url = '/';
  }
  setHeader(h, 'x-namespace', route.ingress.namespace);
  setHeader(h, 'x-ingress-name', route.ingress.name);
  setHeader(h, 'x-service-name', route.backend.service);
  setHeader(h, 'x-service-port', String(route.backend.servicePort));
}
