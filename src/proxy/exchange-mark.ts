// The exchange a request and its response belong to, marked on both: the response's shared
// 'close' listener finds it on the ServerResponse, and the listener's clientError handler on the
// request the socket's parser is reading (`socket.parser.incoming`): with pipelining that is not
// the request whose response is being written.

import type { IncomingMessage, ServerResponse } from 'node:http';

export const kExchange = Symbol('portico.exchange');

export interface MarkedExchange {
  /**
   * The parser failed on this connection (e.g. a malformed chunk in the request body):
   * answer `status` if this exchange's request is the one being read and no response has
   * started; false when it is too late for that or the error is not this request's.
   */
  clientError(status: number): boolean;
}

export interface MarkedResponse extends ServerResponse {
  [kExchange]?: MarkedExchange;
}

export interface MarkedRequest extends IncomingMessage {
  [kExchange]?: MarkedExchange;
}

/**
 * Set on an HTTP/1 client socket once a response on it said `Connection: close`: requests
 * pipelined behind that one (parsed in the same read, before Node saw the close) are not
 * served. Without the mark a request behind a refused one (400 for two Host values, say)
 * still reached the upstream, whose answer was then thrown away.
 */
export const kClosing = Symbol('portico.closing');

export interface ClosingSocket {
  [kClosing]?: boolean;
}
