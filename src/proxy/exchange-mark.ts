// The exchange a ServerResponse belongs to. The response's shared 'close' listener finds it
// there, and so does the listener's clientError handler, through the response the socket is
// serving (`socket._httpMessage`): one property per request, none on the socket.

import type { ServerResponse } from 'node:http';

export const kExchange = Symbol('portico.exchange');

export interface ResponseExchange {
  /**
   * The parser failed on this connection (e.g. a malformed chunk in the request body):
   * answer `status` if this exchange's request is the one being read and no response has
   * started; false when it is too late for that or the error is not this request's.
   */
  clientError(status: number): boolean;
}

export interface MarkedResponse extends ServerResponse {
  [kExchange]?: ResponseExchange;
}
