// Upstream failures → what happened (ErrorKind), which decides retries and the status answered
// (connect timeouts and header timeouts 504, the rest 502). The codes are undici's (plain
// requests) and Node's / http-proxy-3's (WebSocket upgrades).

import type { ErrorKind } from './request-info.ts';

/** Upstream error → what happened (decides retry and status). */
export function upstreamErrorKind(err: unknown): ErrorKind {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'connect';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ECONNECT_TIMEOUT': // http-proxy-3's connectTimeout (upgrades)
    case 'ETIMEDOUT':
      return 'connect_timeout';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      // 101 to a request that asked for no upgrade: the upstream answered, wrongly. Not a
      // reset, so never replayed (the request did reach it): 502
      if ((err as Error).message === 'bad upgrade') return 'upstream_error';
      return 'reset';
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return 'reset';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'headers_timeout';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'body_timeout';
    case 'UND_ERR_ABORTED':
      return 'client_abort';
    default:
      return 'upstream_error';
  }
}

/** The status a local answer to an upstream failure carries. */
export function failureStatus(kind: ErrorKind): 502 | 504 {
  return kind === 'headers_timeout' || kind === 'connect_timeout' || kind === 'send_timeout' ? 504 : 502;
}
