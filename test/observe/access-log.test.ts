import { describe, expect, it } from 'vitest';
import { AccessLog } from '../../src/observe/access-log.ts';

describe('AccessLog', () => {
  it('writes one JSON line per request, time first, batched into one write per event-loop turn', async () => {
    const writes: string[] = [];
    const log = new AccessLog({ write: (s: string) => (writes.push(s), true) });
    log.write({ method: 'GET', status: 200 });
    log.write({ method: 'POST', status: 502 });
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    const lines = writes[0]!.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.method, l.status])).toEqual([['GET', 200], ['POST', 502]]);
    expect(Object.keys(lines[0]!)[0]).toBe('time');
    expect(Number.isNaN(Date.parse(String(lines[0]!.time)))).toBe(false);
  });
});

describe('AccessLog with no fields', () => {
  it('still writes valid JSON (time only)', async () => {
    const writes: string[] = [];
    const log = new AccessLog({ write: (s: string) => (writes.push(s), true) });
    log.write({});
    log.flush();
    expect(Object.keys(JSON.parse(writes[0]!) as object)).toEqual(['time']);
  });
});
