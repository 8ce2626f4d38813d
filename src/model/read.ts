// Defensive readers for objects that came from users' files or the API. The store's types say
// what a field *should* be; YAML says what it *is*. Every processor reads through these so a
// wrong type becomes a problem for one rule, never an exception that takes the config down.

export type Dict = Record<string, unknown>;

/**
 * Why a value was refused: a clause for a problem message. Parsers return the value itself on
 * success (no wrapper object: they run once per rule path, tens of thousands of times).
 */
export interface Invalid {
  readonly invalid: string;
}

export function isInvalid(v: unknown): v is Invalid {
  return typeof v === 'object' && v !== null && 'invalid' in v;
}

export function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `v[key]` when `v` is an object, else undefined. */
export function field(v: unknown, key: string): unknown {
  return isDict(v) ? v[key] : undefined;
}

/** A non-empty string, or undefined for anything else (absent, empty, wrong type). */
export function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** How a value looks in a message: short, quoted, and never an exception. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return String(v);
}
