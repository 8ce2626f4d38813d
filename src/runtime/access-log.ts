// The access log of a data plane, when --access-log is on: the single process's, or a
// worker's, whose lines also say which worker served the request. Fields as
// --access-log-fields (and --access-log-query) chose them.

import { AccessLog, type Writable } from '../observe/access-log.ts';
import { compileFormat, type AccessLogRecord } from '../observe/access-log-format.ts';
import type { Settings } from '../config/settings.ts';

/** Writes one line per finished request (batched: one write per burst). */
export interface RequestLog {
  write(record: AccessLogRecord): void;
  /** Writes what is buffered now (before exiting). */
  flush(): void;
}

/** The access log on `out` (stdout) if the settings ask for one; `worker`: a worker's id. */
export function createAccessLog(settings: Pick<Settings, 'accessLog' | 'accessLogFields'>, out: Writable, worker?: number): RequestLog | undefined {
  if (!settings.accessLog) return undefined;
  const format = compileFormat(settings.accessLogFields);
  const log = new AccessLog(out);
  if (worker === undefined) return { write: (r) => log.write(format(r)), flush: log.flush };
  return {
    flush: log.flush,
    write: (r) => {
      const entry = format(r);
      entry.worker = worker;
      log.write(entry);
    },
  };
}
