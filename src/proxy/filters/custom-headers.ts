// ingress-nginx custom-headers (nginx's more_set_headers): the headers of a ConfigMap set on
// every response of the rule. The stage runs first, so they go on the upstream's response
// (replacing its headers of those names, headers.ts mergeResponseHeaders) and on every answer
// a later stage gives (a 401, a 403, a CORS preflight), as more_set_headers applies to every
// status. Names and values were validated by the model (model/configmap-headers.ts).

import type { ConfigMapHeaders } from '../../model/types.ts';
import { addResponseHeaders, type Stage } from '../plan.ts';

export function customHeadersStage(custom: ConfigMapHeaders): Stage {
  const pairs = custom.headers;
  return (head) => {
    addResponseHeaders(head, ...pairs);
    return 0;
  };
}
