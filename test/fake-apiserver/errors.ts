// Kubernetes `Status` objects and the error type the fake API server throws internally
// (and from its direct, non-HTTP helpers).

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never> | { resourceVersion?: string; continue?: string };
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** The `reason` a real API server uses for an HTTP status code. */
export function reasonForCode(code: number): string {
  return REASONS[code] ?? (code >= 500 ? 'InternalError' : 'BadRequest');
}

export function failureStatus(
  code: number,
  message: string,
  reason: string = reasonForCode(code),
  details?: StatusDetails,
): StatusObject {
  const s: StatusObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) s.details = details;
  return s;
}

/** An API error carrying the exact Status object the HTTP layer would send. */
export class FakeApiError extends Error {
  readonly code: number;
  readonly status: StatusObject;
  constructor(status: StatusObject) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.name = 'FakeApiError';
    this.code = status.code;
    this.status = status;
  }
}

export function apiError(code: number, message: string, reason?: string, details?: StatusDetails): FakeApiError {
  return new FakeApiError(failureStatus(code, message, reason ?? reasonForCode(code), details));
}
