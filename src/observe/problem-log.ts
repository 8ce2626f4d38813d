// Logs each problem once while it persists: a rebuild that finds the same problems again
// stays quiet; a problem that goes away and comes back is logged again.

import type { Problem } from '../model/types.ts';
import type { Logger } from './log.ts';

export class ProblemLog {
  private reported = new Set<string>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** `problems` is the full current list from one source of problems. */
  report(problems: readonly Problem[]): void {
    const now = new Set<string>();
    for (const p of problems) {
      const id = `${p.object.kind}/${p.object.namespace}/${p.object.name}/${p.reason}/${p.message}`;
      now.add(id);
      if (!this.reported.has(id)) {
        this.log.warn(p.message, {
          reason: p.reason,
          object: `${p.object.kind} ${p.object.namespace ? p.object.namespace + '/' : ''}${p.object.name}`,
        });
      }
    }
    this.reported = now;
  }
}
