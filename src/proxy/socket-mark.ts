// The exchange currently using a client socket, for the listener's clientError handler.

export const kExchange = Symbol('portico.exchange');

export interface SocketExchange {
  /**
   * The parser failed on this connection (e.g. a malformed chunk in the request body):
   * answer `status` if no response has started; false when it is too late for that.
   */
  clientError(status: number): boolean;
}

export interface MarkedSocket {
  [kExchange]?: SocketExchange | null;
}
