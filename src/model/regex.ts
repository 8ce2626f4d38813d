// Regular expressions written by users (ingress-nginx regex paths, rewrite-target's capture
// groups, and next HTTPRoute RegularExpression matches) run on re2js, a linear-time engine:
// no pattern can make a request slow (V8's own engine backtracks: `(a+)+$` takes seconds).
// RE2 syntax is PCRE's without backreferences and lookahead; patterns that use them are
// refused with a problem, never approximated. Compiled once per config, never per request.

import { RE2JS } from 're2js';

/** Longest pattern accepted (a path regex longer than this is a mistake, or an attack). */
export const MAX_PATTERN_LENGTH = 1024;
/** Largest compiled program accepted (instructions): bounds the matcher's per-request work. */
const MAX_PROGRAM_SIZE = 5_000;

/** A compiled user pattern. `source` is what the user wrote. */
export interface UserRegex {
  readonly source: string;
  readonly re: RE2JS;
  /** Number of capture groups. */
  readonly groups: number;
  /**
   * Whether the pattern matches somewhere in `input` (as RE2JS.test), through the compiled RE2
   * object directly: half the time of RE2JS.test, which wraps it (measured: 0.5 µs against 1 µs).
   */
  test(input: string): boolean;
  /**
   * For patterns anchored at the start: the literal text every match begins with, lower-case
   * ASCII ('' when unknown). Lookups compare it first and run the engine only when it fits.
   */
  readonly prefix: string;
  /** The whole pattern is `prefix` (no metacharacters): a prefix compare decides alone. */
  readonly literal: boolean;
  /** The pattern as compiled (anchor included), never the engine's internals. */
  toJSON(): string;
}

const META = new Set(['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}']);

/**
 * The literal start of a pattern: characters up to the first metacharacter, lower-cased,
 * printable ASCII only (case folding beyond ASCII is the engine's business). A quantifier
 * right after the prefix may make its last character optional, so that one is dropped then.
 * With an alternation anywhere there is no common prefix to rely on.
 */
function literalStart(pattern: string): { prefix: string; literal: boolean } {
  if (pattern.includes('|')) return { prefix: '', literal: false };
  let i = 0;
  while (i < pattern.length && !META.has(pattern[i]!) && pattern.charCodeAt(i) >= 0x20 && pattern.charCodeAt(i) < 0x7f) i++;
  if (i === pattern.length) return { prefix: pattern.toLowerCase(), literal: true };
  const next = pattern[i]!;
  const end = next === '?' || next === '*' || next === '{' ? i - 1 : i;
  return { prefix: pattern.slice(0, Math.max(0, end)).toLowerCase(), literal: false };
}

/**
 * Compiles `pattern` (prefixed with `anchor`, e.g. '^' as nginx's `location ~* "^..."`),
 * case-insensitive when asked. Returns a sentence for a problem when it cannot be used.
 */
export function compileUserRegex(pattern: string, opts: { anchor?: string; caseInsensitive?: boolean } = {}): UserRegex | { invalid: string } {
  if (pattern.length > MAX_PATTERN_LENGTH) return { invalid: `the regular expression is ${pattern.length} characters long; at most ${MAX_PATTERN_LENGTH} are accepted` };
  let re: RE2JS;
  try {
    re = RE2JS.compile((opts.anchor ?? '') + pattern, opts.caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      invalid: `the regular expression ${JSON.stringify(pattern)} is not valid RE2 syntax (${why}); Portico runs regexes on a linear-time engine, which has no backreferences or lookahead`,
    };
  }
  if (re.programSize() > MAX_PROGRAM_SIZE) {
    return { invalid: `the regular expression ${JSON.stringify(pattern)} compiles to ${re.programSize()} instructions; at most ${MAX_PROGRAM_SIZE} are accepted (simplify repetitions such as {1,1000})` };
  }
  const compiled = (opts.anchor ?? '') + pattern + (opts.caseInsensitive ? ' (case-insensitive)' : '');
  // the prefix shortcut holds for start-anchored, case-insensitive patterns (regex paths)
  const start = opts.anchor === '^' && opts.caseInsensitive === true ? literalStart(pattern) : { prefix: '', literal: false };
  const engine = re.re2();
  return Object.freeze({
    source: pattern,
    re,
    groups: re.groupCount(),
    test: (input: string): boolean => engine.match(input),
    prefix: start.prefix,
    literal: start.literal,
    toJSON: () => compiled,
  });
}

/** One piece of a rewrite target: literal text, or the text of a capture group. */
export type TemplatePart = string | number;

/**
 * A rewrite target with `$1` / `${1}` capture references (as nginx's `rewrite` takes them),
 * split into literal text and group numbers. Other `$variables` are nginx's runtime state,
 * which Portico does not interpret: they are refused.
 */
export function parseRewriteTemplate(target: string, groups: number): TemplatePart[] | { invalid: string } {
  const parts: TemplatePart[] = [];
  let text = '';
  for (let i = 0; i < target.length; i++) {
    const c = target[i]!;
    if (c !== '$') {
      text += c;
      continue;
    }
    const m = /^\$(?:(\d)|\{(\d+)\})/.exec(target.slice(i));
    if (m === null) {
      const name = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)/.exec(target.slice(i))?.[1];
      return {
        invalid: name
          ? `the nginx variable $${name} is not supported in a rewrite target; only capture groups ($1, \${2}) are`
          : `"$" at position ${i} is not followed by a capture group number`,
      };
    }
    const n = Number(m[1] ?? m[2]);
    if (n > groups) return { invalid: `$${n} refers to capture group ${n}, but the path has ${groups === 0 ? 'no capture groups' : `only ${groups}`}` };
    if (text !== '') parts.push(text);
    text = '';
    parts.push(n);
    i += m[0].length - 1;
  }
  if (text !== '') parts.push(text);
  return parts;
}
