// FNV-1a over UTF-16 code units, for the route table's own hash tables. The lookups hash
// request text themselves (one pass that also finds '/' boundaries or normalises a host)
// instead of building substrings for a Map, so nothing is allocated per request. Every hash
// hit is confirmed against the key text: collisions cost a probe, never a wrong answer.

export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 16777619;

/** Hash after adding code unit `c` to hash `h`. */
export function fnvStep(h: number, c: number): number {
  return Math.imul(h ^ c, FNV_PRIME);
}

/** Table size for `entries` keys: a power of two, at most half full (short probe runs). */
export function capacityFor(entries: number): number {
  let cap = 8;
  while (cap < entries * 2) cap *= 2;
  return cap;
}
