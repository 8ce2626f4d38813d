// The access log of a data plane, when --access-log is on: the single process's, or a
// worker's, whose lines also say which worker served the request.

import { AccessLog, type Writable } from '../observe/access-log.ts';
import type { Settings } from '../config/settings.ts';

/** The access log on `out` (stdout) if the settings ask for one; `worker`: a worker's id. */
export function createAccessLog(settings: Pick<Settings, 'accessLog'>, out: Writable, worker?: number): AccessLog | undefined {
  if (!settings.accessLog) return undefined;
  return worker === undefined ? new AccessLog(out) : new WorkerAccessLog(out, worker);
}

/** Access log lines that say which worker served the request. */
class WorkerAccessLog extends AccessLog {
  private readonly worker: number;

  constructor(out: Writable, worker: number) {
    super(out);
    this.worker = worker;
  }

  override write(entry: object): void {
    super.write({ ...entry, worker: this.worker });
  }
}
