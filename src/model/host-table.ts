// Host header → the compiled virtual host (path-table.ts) that serves it. Most Host headers
// already are a rule host exactly (lower case, no port): one Map lookup answers those.
// Otherwise the header is normalised (host.ts: lower case, no port, no trailing dot; this
// allocates only for such headers) and looked up again; then what follows its first label is
// looked up among wildcards (`*.foo.com` stands for exactly one label) by hash, so no
// substring is cut for that; then the rules without host. Measured (bench/routing-table.ts
// and variants): V8's own string hashing and Map beat a hand-written single-pass hash of the
// header here; the suffix lookup is the exception.
//
// Tables are immutable and made new for every config, but a new one shares what did not
// change: `with()` replaces some hosts. Copying a Map of 10,000 hosts costs ~2 ms, too much
// for an edit, and a Map of changes in front of it costs every request a second lookup. So
// the Map gives a host's slot, and the tables are in slots: chunks of 256, so an edit copies
// the list of chunks and the chunks it writes (a few hundred pointers, whatever the number of
// hosts, and little garbage) and shares the Map and every other chunk. A removed host leaves an empty slot (its name stays in the Map; a host
// of that name coming back reuses it); a host never seen goes into a small Map of its own
// until enough of those and of empty slots pile up, then everything is re-indexed once.
//
// Every host, '' and wildcards included, is in the Map under its own name: the header
// "*.foo.com" or "" finds what the wildcard or host-less lookup would have found.

import { capacityFor, FNV_OFFSET, fnvStep } from './hash.ts';
import { isWildcardHost, normalizeRequestHost } from './host.ts';
import type { PathTable } from './path-table.ts';

function hashRange(s: string, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = fnvStep(h, s.charCodeAt(i));
  return h;
}

// Per slot: [hash, entry + 1] (0: empty). Per entry: [offset in the joined names, length, id].
const SLOT = 2;
const ENTRY = 3;

/** Names → ids, looked up by a range of a string (no substring needed). Immutable. */
class NameTable {
  readonly size: number;
  /** The names and ids it was built from. */
  readonly names: readonly { name: string; id: number }[];
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly entries: Int32Array;
  /** Every name, concatenated. */
  private readonly text: string;

  /** `names` must be distinct. */
  constructor(names: readonly { name: string; id: number }[]) {
    const cap = capacityFor(names.length);
    const mask = cap - 1;
    const slots = new Int32Array(cap * SLOT);
    const entries = new Int32Array(names.length * ENTRY);
    const parts: string[] = [];
    let offset = 0;
    for (let e = 0; e < names.length; e++) {
      const { name, id } = names[e] as { name: string; id: number };
      const h = hashRange(name, 0, name.length);
      let s = h & mask;
      while (slots[s * SLOT + 1] !== 0) s = (s + 1) & mask;
      slots[s * SLOT] = h;
      slots[s * SLOT + 1] = e + 1;
      entries[e * ENTRY] = offset;
      entries[e * ENTRY + 1] = name.length;
      entries[e * ENTRY + 2] = id;
      parts.push(name);
      offset += name.length;
    }
    this.size = names.length;
    this.names = names;
    this.slots = slots;
    this.mask = mask;
    this.entries = entries;
    this.text = parts.join('');
  }

  /** The id of the name equal to `s[start, s.length)`, or -1. */
  find(s: string, start: number): number {
    const len = s.length - start;
    const h = hashRange(s, start, s.length);
    const slots = this.slots;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const e1 = slots[i * SLOT + 1] as number;
      if (e1 === 0) return -1;
      if (slots[i * SLOT] !== h) continue;
      const b = (e1 - 1) * ENTRY;
      const entries = this.entries;
      if (entries[b + 1] !== len) continue;
      const text = this.text;
      const off = entries[b] as number;
      let j = 0;
      while (j < len && text.charCodeAt(off + j) === s.charCodeAt(start + j)) j++;
      if (j === len) return entries[b + 2] as number;
    }
  }
}

const NO_NAMES = new NameTable([]);

/** Slots per chunk (a power of two). */
const CHUNK_BITS = 8;
const CHUNK = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK - 1;

type Chunk = (PathTable | null)[];

/** Re-index once empty slots and hosts outside the main Map are more than this. */
function slackLimit(size: number): number {
  return Math.min(1024, Math.max(64, size >>> 3));
}

export class HostTable {
  /** Number of hosts. */
  readonly size: number;
  /** Host name → slot, for every host when the index was made (shared by later tables). */
  private readonly index: ReadonlyMap<string, number>;
  /** Host name → slot, for hosts added since; null when there are none. */
  private readonly extra: ReadonlyMap<string, number> | null;
  /**
   * The compiled host in each slot (slot i: chunks[i >> CHUNK_BITS][i & CHUNK_MASK]); null for
   * a host removed since the index was made.
   */
  private readonly chunks: readonly (readonly (PathTable | null)[])[];
  /** Number of slots. */
  private readonly slotCount: number;
  /** Wildcard hosts by the suffix after `*.` → slot. */
  private readonly wildNames: NameTable;
  /** The host '' (rules without host), or null. */
  private readonly anyHost: PathTable | null;
  /** Empty slots plus hosts in `extra`: what re-indexing would clean up. */
  private readonly slack: number;

  private constructor(
    index: ReadonlyMap<string, number>,
    extra: ReadonlyMap<string, number> | null,
    chunks: readonly (readonly (PathTable | null)[])[],
    slotCount: number,
    wildNames: NameTable,
    size: number,
    slack: number,
  ) {
    this.size = size;
    this.index = index;
    this.extra = extra;
    this.chunks = chunks;
    this.slotCount = slotCount;
    this.wildNames = wildNames;
    this.slack = slack;
    this.anyHost = null;
    this.anyHost = this.get('') ?? null;
  }

  /** A table of `hosts`; should a host repeat, its first table is kept. */
  static of(hosts: Iterable<PathTable>): HostTable {
    const index = new Map<string, number>();
    const chunks: Chunk[] = [];
    const wild: { name: string; id: number }[] = [];
    let n = 0;
    for (const t of hosts) {
      const host = t.vh.host;
      if (index.has(host)) continue;
      index.set(host, n);
      if (isWildcardHost(host)) wild.push({ name: host.slice(2), id: n });
      if ((n & CHUNK_MASK) === 0) chunks.push([]);
      (chunks[chunks.length - 1] as Chunk).push(t);
      n++;
    }
    return new HostTable(index, null, chunks, n, wild.length === 0 ? NO_NAMES : new NameTable(wild), n, 0);
  }

  /**
   * This table with the hosts of `set` added or replaced (should a host repeat, its first
   * table is kept) and the hosts named in `remove` taken out. Shares everything else.
   */
  with(set: readonly PathTable[], remove: readonly string[]): HostTable {
    if (set.length === 0 && remove.length === 0) return this;
    const slots = new Slots(this.chunks, this.slotCount);
    let extra: Map<string, number> | null = null;
    let wild: { name: string; id: number }[] | null = null;
    let size = this.size;
    let slack = this.slack;
    for (const host of remove) {
      const i = this.slotOf(host, extra);
      if (i === undefined || slots.get(i) === null) continue;
      slots.set(i, null);
      size--;
      slack++;
    }
    const done = new Set<string>();
    for (const t of set) {
      const host = t.vh.host;
      if (done.has(host)) continue;
      done.add(host);
      const i = this.slotOf(host, extra);
      if (i !== undefined) {
        if (slots.get(i) === null) {
          size++;
          slack--;
        }
        slots.set(i, t);
        continue;
      }
      extra ??= new Map(this.extra ?? []);
      extra.set(host, slots.count);
      if (isWildcardHost(host)) {
        wild ??= this.wildNames.names.slice();
        wild.push({ name: host.slice(2), id: slots.count });
      }
      slots.push(t);
      size++;
      slack++;
    }
    if (slack > slackLimit(size)) {
      const live: PathTable[] = [];
      for (const chunk of slots.chunks) for (const t of chunk) if (t !== null) live.push(t);
      return HostTable.of(live);
    }
    const wildNames = wild === null ? this.wildNames : new NameTable(wild);
    return new HostTable(this.index, extra ?? this.extra, slots.chunks, slots.count, wildNames, size, slack);
  }

  /** The slot of host `host`, if it has one (`extra`: the one being made, if any). */
  private slotOf(host: string, extra: ReadonlyMap<string, number> | null): number | undefined {
    return this.index.get(host) ?? (extra ?? this.extra)?.get(host);
  }

  /** The table of the virtual host named exactly `host` (a rule host), if any. */
  get(host: string): PathTable | undefined {
    let i = this.index.get(host);
    if (i === undefined) {
      const extra = this.extra;
      if (extra === null) return undefined;
      i = extra.get(host);
      if (i === undefined) return undefined;
    }
    const t = (this.chunks[i >>> CHUNK_BITS] as readonly (PathTable | null)[])[i & CHUNK_MASK];
    return t === null ? undefined : t;
  }

  /** The table of the virtual host that serves this Host header, or null. */
  lookup(raw: string): PathTable | null {
    let t = this.get(raw);
    if (t !== undefined) return t;
    const host = normalizeRequestHost(raw);
    if (host !== raw) {
      t = this.get(host);
      if (t !== undefined) return t;
    }
    if (this.wildNames.size !== 0) {
      const dot = host.indexOf('.');
      if (dot > 0 && dot < host.length - 1) {
        const i = this.wildNames.find(host, dot + 1);
        if (i >= 0) {
          const w = (this.chunks[i >>> CHUNK_BITS] as readonly (PathTable | null)[])[i & CHUNK_MASK];
          // A removed wildcard leaves an empty slot: then it is as if it were not there.
          if (w !== null && w !== undefined) return w;
        }
      }
    }
    return this.anyHost;
  }

  /** Every host's table, once each; order unspecified. */
  *values(): Iterable<PathTable> {
    for (const chunk of this.chunks) for (const t of chunk) if (t !== null) yield t;
  }
}

/** Chunked slots being changed for a new table: chunks are copied on their first write. */
class Slots {
  readonly chunks: Chunk[];
  count: number;
  private readonly copied = new Set<number>();

  constructor(chunks: readonly (readonly (PathTable | null)[])[], count: number) {
    // The list is this table's own; each chunk is still shared until set() copies it.
    this.chunks = chunks.slice() as Chunk[];
    this.count = count;
  }

  get(i: number): PathTable | null {
    return (this.chunks[i >>> CHUNK_BITS] as Chunk)[i & CHUNK_MASK] ?? null;
  }

  set(i: number, t: PathTable | null): void {
    const c = i >>> CHUNK_BITS;
    if (!this.copied.has(c)) {
      this.copied.add(c);
      this.chunks[c] = (this.chunks[c] as Chunk).slice();
    }
    (this.chunks[c] as Chunk)[i & CHUNK_MASK] = t;
  }

  push(t: PathTable): void {
    const i = this.count++;
    if ((i & CHUNK_MASK) === 0) {
      this.chunks.push([]);
      this.copied.add(this.chunks.length - 1);
    }
    this.set(i, t);
  }
}
