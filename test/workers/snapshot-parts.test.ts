import { describe, expect, it } from 'vitest';
import type { AnyObject } from '../../src/store/types.ts';
import type { PackedMessage, SnapshotMessage } from '../../src/workers/protocol.ts';
import { SnapshotParts, type SnapshotReader } from '../../src/workers/snapshot-parts.ts';

const part = (i: number, final = false): SnapshotMessage => ({
  t: 'snapshot',
  seq: 7,
  objects: [['Service', [{ metadata: { namespace: 'ns', name: `s${i}` } } as AnyObject]]],
  final,
});
const parts = [part(0), part(1), part(2, true)];
const names = (m: PackedMessage | undefined): string[] =>
  (JSON.parse(Buffer.from(m!.data).toString()) as SnapshotMessage).objects.flatMap(([, list]) => list.map((o) => o.metadata.name));
const drain = (r: SnapshotReader): string[] => {
  const out: string[] = [];
  for (let m = r.next(); m !== undefined; m = r.next()) out.push(...names(m));
  r.close();
  return out;
};

describe('SnapshotParts', () => {
  it('serialises each part once for readers that read together, in order', () => {
    const s = new SnapshotParts(7, parts);
    const a = s.reader();
    const b = s.reader();
    expect(names(a.next())).toEqual(['s0']);
    const a1 = a.next();
    const b0 = b.next();
    expect(names(b0)).toEqual(['s0']);
    expect(names(b.next())).toEqual(['s1']);
    expect(names(a1)).toEqual(['s1']);
    expect(drain(a)).toEqual(['s2']);
    expect(s.active).toBe(true);
    expect(drain(b)).toEqual(['s2']);
    expect(s.active).toBe(false);
    expect(s.packs).toBe(3);
  });

  it('hands the same bytes to every reader', () => {
    const s = new SnapshotParts(7, parts);
    const a = s.reader();
    const b = s.reader();
    expect(a.next()).toBe(b.next());
  });

  it('drops a part once every reader took it: a late reader packs only what was dropped', () => {
    const s = new SnapshotParts(7, parts);
    const a = s.reader();
    a.next(); // s0 taken by the only reader: dropped
    const late = s.reader();
    expect(drain(late)).toEqual(['s0', 's1', 's2']); // s0 again; s1 and s2 packed now and kept for `a`
    expect(s.packs).toBe(4);
    expect(drain(a)).toEqual(['s1', 's2']);
    expect(s.packs).toBe(4);
  });

  it('a reader that closes early (its worker went away) holds no part', () => {
    const s = new SnapshotParts(7, parts);
    const a = s.reader();
    const gone = s.reader();
    gone.next();
    gone.close();
    expect(gone.next()).toBeUndefined();
    expect(drain(a)).toEqual(['s0', 's1', 's2']);
    expect(s.packs).toBe(3);
    expect(s.active).toBe(false);
  });
});
