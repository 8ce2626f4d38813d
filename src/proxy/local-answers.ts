// Answers Portico gives itself (4xx/5xx, redirects, a rule's direct response, a filter's
// refusal): their bodies, made once, and the one writer that sends them. Plain requests write
// to their ServerResponse; WebSocket upgrades, which have only the client socket, get the same
// status, headers and body serialised as HTTP/1.1 with Connection: close.
//
// Every local answer carries X-Request-Id, a plain-text body, the headers of the answer (a
// Location, a challenge, a filter's answerHeaders) and the headers filters add to every
// response of the route (PlanHead.responseHeaders: CORS). A request whose body was not read is
// not drained: HTTP/1 closes the connection after the answer, HTTP/2 resets the stream with
// NO_ERROR.

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { DirectResponseAction } from '../model/types.ts';
import { kClosing, type ClosingSocket } from './exchange-mark.ts';
import { mergeResponseHeaders } from './headers.ts';

export interface LocalBody {
  status: number;
  body: Buffer;
  length: string;
  /** Extra response headers (flat list), e.g. Allow for 405. */
  extra?: readonly string[];
}
export function localBody(status: number, text: string, extra?: readonly string[]): LocalBody {
  const body = Buffer.from(text + '\n');
  return extra === undefined ? { status, body, length: String(body.length) } : { status, body, length: String(body.length), extra };
}
const R400 = localBody(400, 'bad request');
const R405 = localBody(405, 'method not allowed', ['allow', 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH']);
const R408 = localBody(408, 'request timeout');
const R431 = localBody(431, 'request header fields too large');
const R404 = localBody(404, 'not found');
const R500 = localBody(500, 'internal error');
const R501 = localBody(501, 'not implemented');
const R502 = localBody(502, 'bad gateway');
const R503 = localBody(503, 'no endpoints available');
const R503_CLOSING = localBody(503, 'shutting down');
const R503_BUSY = localBody(503, 'upstream busy');
const R504 = localBody(504, 'gateway timeout');
const R413 = localBody(413, 'request entity too large');
const R401 = localBody(401, 'unauthorized');
const R403 = localBody(403, 'forbidden');
const R503_FILTER = localBody(503, 'service unavailable');

const redirectBodies = new Map<number, LocalBody>();
/** The body of a redirect answer: the status's reason phrase, made once per status. */
export function redirectBody(status: number): LocalBody {
  let b = redirectBodies.get(status);
  if (b === undefined) {
    b = localBody(status, (STATUS_CODES[status] ?? 'redirect').toLowerCase());
    redirectBodies.set(status, b);
  }
  return b;
}

const directBodies = new WeakMap<DirectResponseAction, LocalBody>();
/** A rule's direct response as a local answer, made once per action of a config. */
export function directBody(action: DirectResponseAction): LocalBody {
  let b = directBodies.get(action);
  if (b === undefined) {
    b = localBody(action.status, action.body);
    directBodies.set(action, b);
  }
  return b;
}

/** The answer for InboundHead.reject. */
export function rejectBody(status: number): LocalBody {
  return status === 501 ? R501 : status === 405 ? R405 : R400;
}

export const LOCAL_RESPONSES = { R503_BUSY, R400, R401, R403, R405, R408, R413, R431, R404, R500, R501, R502, R503, R503_CLOSING, R504 } as const;
const planBodies = new Map<number, LocalBody>([[401, R401], [403, R403], [413, R413], [503, R503_FILTER], [500, R500], [400, R400]]);
/**
 * The local answer for a status a plan's stage returned: any status from 200 to 599 (a CORS
 * preflight's 204, a sign-in 302, a rate limit's 429 ...), its reason phrase as the body;
 * none for 204 and 304, which have no body.
 */
export function planAnswer(status: number): LocalBody {
  let b = planBodies.get(status);
  if (b === undefined) {
    if (status < 200 || status > 599) return R500;
    b = status === 204 || status === 304
      ? { status, body: Buffer.alloc(0), length: '0' }
      : localBody(status, (STATUS_CODES[status] ?? 'error').toLowerCase());
    planBodies.set(status, b);
  }
  return b;
}

/**
 * The header list (flat) of a local answer: ours, the body's own (Allow for 405), the
 * answer's (`extra`: Location, WWW-Authenticate, a filter's answerHeaders) and the route's
 * response headers (CORS, custom-headers), which replace ours of the same name.
 */
export function answerHeaders(
  body: LocalBody,
  requestId: string,
  extra: readonly string[] | null,
  responseHeaders: readonly string[] | null,
): string[] {
  const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', body.length, 'x-request-id', requestId];
  if (body.extra !== undefined) headers.push(...body.extra);
  if (extra !== null) headers.push(...extra);
  // the route's headers replace ours of the same name (custom-headers may set Content-Type)
  if (responseHeaders !== null) mergeResponseHeaders(headers, responseHeaders);
  return headers;
}

/**
 * Sends a local answer on a plain request's response. `close` asks for the HTTP/1 connection
 * to be closed after it (400s and unread bodies always are). A response already started or
 * gone is destroyed instead (the client sees a failure).
 */
export function writeAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  hasBody: boolean,
  body: LocalBody,
  headers: string[],
  close: boolean,
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  // an unread request body is not drained: close the connection after the answer instead
  const unread = hasBody && !req.complete;
  if ((close || body.status === 400 || unread) && req.httpVersionMajor === 1) {
    headers.push('connection', 'close');
    const sock = req.socket as ClosingSocket | null;
    if (sock !== null) sock[kClosing] = true;
  }
  res.writeHead(body.status, headers);
  res.end(body.body);
  if (unread && req.httpVersionMajor === 2) {
    // HTTP/2: once the answer is out, reset the stream with NO_ERROR so the client stops
    // sending the body nobody reads (RFC 9113 §8.1); otherwise flow control stalls it and the
    // stream never closes
    closeStream(req);
  }
}

/**
 * Sends a local answer on the raw client socket of an upgrade request (no ServerResponse
 * exists for it) and closes the socket once it is written.
 */
export function writeRawAnswer(socket: Duplex, body: LocalBody, headers: readonly string[]): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${body.status} ${STATUS_CODES[body.status] ?? 'Error'}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) head += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  socket.cork();
  socket.write(head + 'connection: close\r\n\r\n');
  socket.write(body.body);
  socket.uncork();
  const s = socket as Socket;
  if (typeof s.destroySoon === 'function') s.destroySoon();
  else socket.end();
}

/** RST_STREAM(NO_ERROR) for an HTTP/2 compat request whose body will not be read. */
function closeStream(req: IncomingMessage): void {
  const stream = (req as unknown as { stream?: { closed: boolean; close(code?: number): void } }).stream;
  if (stream !== undefined && !stream.closed) stream.close(0 /* NGHTTP2_NO_ERROR */);
}
