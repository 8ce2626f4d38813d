// The access log's field names (--access-log-fields). The writers for them live in
// observe/access-log-format.ts; a test keeps the two lists equal.

/** Every field an access log line can carry, in the default order (`time` always comes first). */
export const ACCESS_LOG_FIELDS = [
  'method',
  'host',
  'path',
  'query',
  'protocol',
  'scheme',
  'status',
  'bytesSent',
  'requestBytes',
  'durationMs',
  'upstreamStatus',
  'upstreamHeaderMs',
  'upstreamResponseMs',
  'upstream',
  'attempts',
  'ingress',
  'routePath',
  'backend',
  'requestId',
  'clientIp',
  'userAgent',
  'referer',
  'tlsVersion',
  'tlsCipher',
  'upgrade',
  'error',
] as const;

export type AccessLogField = (typeof ACCESS_LOG_FIELDS)[number];

/** Without --access-log-fields: everything but the query string (it often carries tokens). */
export const DEFAULT_ACCESS_LOG_FIELDS: readonly AccessLogField[] = ACCESS_LOG_FIELDS.filter((f) => f !== 'query');
