import { describe, expect, it } from 'vitest';
import { Store, type StoreChange } from '../../src/store/store.ts';
import type { Service } from '../../src/store/types.ts';

const svc = (name: string, rv?: string, port = 80): Service => ({
  metadata: { namespace: 'ns', name, ...(rv ? { resourceVersion: rv } : {}) },
  spec: { ports: [{ port }] },
});

describe('Store', () => {
  it('notifies on add, update and remove, and not on an unchanged copy', () => {
    const s = new Store();
    const seen: StoreChange[] = [];
    s.subscribe((c) => seen.push(c));
    expect(s.upsert('Service', svc('a', '1'))).toBe(true);
    expect(s.upsert('Service', svc('a', '1'))).toBe(false);
    expect(s.upsert('Service', svc('a', '2'))).toBe(true);
    expect(s.remove('Service', 'ns/a')).toBe(true);
    expect(s.remove('Service', 'ns/a')).toBe(false);
    expect(seen.map((c) => [c.key, c.old !== undefined, c.current !== undefined])).toEqual([
      ['ns/a', false, true],
      ['ns/a', true, true],
      ['ns/a', true, false],
    ]);
  });

  it('compares objects without resourceVersion by content', () => {
    const s = new Store();
    expect(s.upsert('Service', svc('a'))).toBe(true);
    expect(s.upsert('Service', svc('a'))).toBe(false);
    expect(s.upsert('Service', svc('a', undefined, 81))).toBe(true);
  });

  it('replaceKind diffs: keeps unchanged objects, removes vanished ones, never empties in between', () => {
    const s = new Store();
    s.upsert('Service', svc('a', '1'));
    s.upsert('Service', svc('b', '1'));
    const sizes: number[] = [];
    s.subscribe(() => sizes.push(s.size('Service')));
    s.replaceKind('Service', [svc('b', '1'), svc('c', '1')]);
    expect([...s.keys('Service')].sort()).toEqual(['ns/b', 'ns/c']);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(2);
  });
});
