// Host header → virtual host id. Most Host headers already are a rule host exactly (lower
// case, no port): one Map lookup answers those. Otherwise the header is normalised (host.ts:
// lower case, no port, no trailing dot; this allocates only for such headers) and looked up
// again; then what follows its first label is looked up among wildcards (`*.foo.com` stands
// for exactly one label) by hash, so no substring is cut for that; then the rules without
// host. Measured (bench/routing-table.ts and variants): V8's own string hashing and Map beat
// a hand-written single-pass hash of the header here; the suffix lookup is the exception.

import { capacityFor, FNV_OFFSET, fnvStep } from './hash.ts';
import { isWildcardHost, normalizeRequestHost } from './host.ts';
import type { VirtualHost } from './virtual-host.ts';

function hashRange(s: string, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = fnvStep(h, s.charCodeAt(i));
  return h;
}

// Per slot: [hash, entry + 1] (0: empty). Per entry: [offset in the joined names, length, id].
const SLOT = 2;
const ENTRY = 3;

/** Names → host ids, looked up by a range of a string (no substring needed). */
class NameTable {
  readonly size: number;
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly entries: Int32Array;
  /** Every name, concatenated. */
  private readonly text: string;

  /** Of names given twice, the first keeps its id. */
  constructor(names: readonly { name: string; id: number }[]) {
    const cap = capacityFor(names.length);
    const mask = cap - 1;
    const slots = new Int32Array(cap * SLOT);
    const entries = new Int32Array(names.length * ENTRY);
    const parts: string[] = [];
    let offset = 0;
    for (const { name, id } of names) {
      const h = hashRange(name, 0, name.length);
      let s = h & mask;
      let duplicate = false;
      for (let e1 = slots[s * SLOT + 1] as number; e1 !== 0; e1 = slots[s * SLOT + 1] as number) {
        if (slots[s * SLOT] === h && parts[e1 - 1] === name) {
          duplicate = true;
          break;
        }
        s = (s + 1) & mask;
      }
      if (duplicate) continue;
      const e = parts.length;
      slots[s * SLOT] = h;
      slots[s * SLOT + 1] = e + 1;
      entries[e * ENTRY] = offset;
      entries[e * ENTRY + 1] = name.length;
      entries[e * ENTRY + 2] = id;
      parts.push(name);
      offset += name.length;
    }
    this.size = parts.length;
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

export class HostTable {
  /** Id of the host '' (rules without host), or -1. */
  readonly anyHost: number;
  private readonly exact = new Map<string, number>();
  /** Wildcard hosts by the suffix after `*.`. */
  private readonly wildcards: NameTable;

  /** Host ids are indexes into `hosts`; should a host repeat, its first index keeps it. */
  constructor(hosts: readonly VirtualHost[]) {
    let anyHost = -1;
    const wildcards: { name: string; id: number }[] = [];
    for (let id = 0; id < hosts.length; id++) {
      const host = (hosts[id] as VirtualHost).host;
      if (host === '') {
        if (anyHost < 0) anyHost = id;
      } else if (isWildcardHost(host)) {
        wildcards.push({ name: host.slice(2), id });
      } else if (!this.exact.has(host)) {
        this.exact.set(host, id);
      }
    }
    this.anyHost = anyHost;
    this.wildcards = new NameTable(wildcards);
  }

  /** The id of the virtual host that serves this Host header, or -1. */
  lookup(raw: string): number {
    let id = this.exact.get(raw);
    if (id !== undefined) return id;
    const host = normalizeRequestHost(raw);
    if (host !== raw) {
      id = this.exact.get(host);
      if (id !== undefined) return id;
    }
    if (this.wildcards.size !== 0) {
      const dot = host.indexOf('.');
      if (dot > 0 && dot < host.length - 1) {
        const wild = this.wildcards.find(host, dot + 1);
        if (wild >= 0) return wild;
      }
    }
    return this.anyHost;
  }
}
