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
   * Whether the pattern matches somewhere in `input` (as RE2JS.test). The literal prefix is
   * compared first and the engine runs only when it fits (and the pattern is more than the
   * prefix); the engine is called through the compiled RE2 object directly: half the time of
   * RE2JS.test, which wraps it (measured: 0.5 µs against 1 µs).
   */
  test(input: string): boolean;
  /**
   * For patterns anchored at the start: text every match begins with, lower-case ASCII ('' when
   * unknown), as compareStart() compares it. Lookups compare it first and run the engine only
   * when it fits.
   */
  readonly prefix: string;
  /** The whole pattern is literal text, `prefix` (escaped punctuation at most): a prefix compare decides alone. */
  readonly literal: boolean;
  /** The pattern as compiled (anchor included), never the engine's internals. */
  toJSON(): string;
}

/** Characters with a meaning of their own in RE2 syntax outside a character class. */
const META = new Set(['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}']);

/** Printable ASCII, the only characters a prefix holds (case folding beyond ASCII is the engine's business). */
function printableAscii(c: number): boolean {
  return c >= 0x20 && c < 0x7f;
}

/** ASCII letters and digits: after a backslash they make an escape sequence (\d, \Q, \x41, \1). */
function alnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * Whether `pattern` (RE2 syntax, already compiled without error) has a '|' outside every
 * group: then it is an alternation of whole patterns and has no prefix in common. Reads
 * escapes (`\|`), quoted text (`\Q...\E`) and character classes (`[|(]`, `[]|]`, `[^]|]`,
 * `[[:alpha:]]`) as the RE2 parser does, so a '|' or parenthesis inside them counts for
 * nothing. Whatever it cannot read (unbalanced parentheses, an unclosed class) answers true:
 * no prefix, so the engine decides.
 */
function hasTopLevelAlternation(pattern: string): boolean {
  let depth = 0;
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i]!;
    if (c === '\\') {
      if (pattern[i + 1] === 'Q') {
        // quoted text runs to the next \E, or to the end
        const end = pattern.indexOf('\\E', i + 2);
        if (end < 0) return depth !== 0;
        i = end + 2;
      } else {
        i += 2;
      }
      continue;
    }
    if (c === '[') {
      const end = classEnd(pattern, i);
      if (end < 0) return true;
      i = end + 1;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0) return true;
    } else if (c === '|' && depth === 0) return true;
    i++;
  }
  return depth !== 0;
}

/** Perl class escapes (\d, \s, \w and their negations): a class member that cannot start a range. */
const PERL_CLASS = new Set(['d', 'D', 's', 'S', 'w', 'W']);

/**
 * The index of the ']' closing the character class that opens at `open`, or -1. Read item by
 * item exactly as RE2's parser (re2js Parser.parseClass) reads a class, since a misread class
 * could hide a '|': a ']' first (right after '[' or '[^') is a member; an item is a named
 * class `[:name:]` (up to the next ':]' when there is one; an unknown name is a syntax error,
 * so such a pattern never gets here), a Unicode class (`\pL`, `\p{Greek}`), a Perl class
 * (`\d`), or a character or escape, which followed by '-' and anything but ']' is a range
 * whose upper end is one character or escape (`[!-[:]` ends at its first ']').
 */
function classEnd(pattern: string, open: number): number {
  const n = pattern.length;
  let i = open + 1;
  if (pattern[i] === '^') i++;
  let first = true;
  while (i < n) {
    const c = pattern[i];
    if (c === ']' && !first) return i;
    first = false;
    if (c === '[' && pattern[i + 1] === ':') {
      const end = pattern.indexOf(':]', i + 2);
      if (end >= 0) {
        i = end + 2;
        continue;
      }
    }
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e === 'p' || e === 'P') {
        if (pattern[i + 2] !== '{') {
          i = i + 2 + codePointLength(pattern, i + 2);
        } else {
          const end = pattern.indexOf('}', i + 3);
          if (end < 0) return -1;
          i = end + 1;
        }
        continue;
      }
      if (e !== undefined && PERL_CLASS.has(e)) {
        i += 2;
        continue;
      }
    }
    i = classCharEnd(pattern, i);
    if (pattern[i] === '-' && i + 1 < n && pattern[i + 1] !== ']') i = classCharEnd(pattern, i + 1);
  }
  return -1;
}

/** UTF-16 code units of the code point at `i` (RE2 reads code points). */
function codePointLength(pattern: string, i: number): number {
  const c = pattern.charCodeAt(i);
  const d = pattern.charCodeAt(i + 1);
  return c >= 0xd800 && c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
}

function octal(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '7';
}

/**
 * Where the character or escape at `i` ends, as RE2's parser reads one (re2js
 * Parser.parseEscape): `\0` and up to two more octal digits, `\1`..`\7` followed by octal
 * digits (up to three in all), `\x{...}`, `\xHH`, else a backslash and one character.
 */
function classCharEnd(pattern: string, i: number): number {
  if (pattern[i] !== '\\') return i + codePointLength(pattern, i);
  const e = pattern[i + 1];
  if (e === '0' || (octal(e) && octal(pattern[i + 2]))) {
    let j = i + 2;
    for (let k = 0; k < 2 && octal(pattern[j]); k++) j++;
    return j;
  }
  if (e === 'x') {
    if (pattern[i + 2] !== '{') return i + 4;
    const end = pattern.indexOf('}', i + 3);
    return end < 0 ? pattern.length : end + 1;
  }
  return i + 1 + codePointLength(pattern, i + 1);
}

/**
 * The literal start of a pattern: text every match of `^<pattern>` begins with, lower-cased
 * ASCII. It is the characters before the first metacharacter, where an escaped punctuation
 * character (`\.`, `\/`) is that character, as in RE2, less the last one: whatever follows may
 * make that one optional or repeat it, and not only a quantifier right after it (`a?`, `a{0,2}`)
 * but also one after something that matches no text, which RE2 applies to the character before
 * (`a(?i)?`, `a\Q\E*`). A '|' outside every group makes the pattern an alternation of whole
 * patterns: no prefix then; a '|' inside a group (`/static/.*\.(js|css)`) comes after a
 * metacharacter, so after the prefix. A pattern that is nothing but such characters is
 * `literal`: then the prefix is all of it.
 */
export function literalStart(pattern: string): { prefix: string; literal: boolean } {
  if (hasTopLevelAlternation(pattern)) return { prefix: '', literal: false };
  let prefix = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    const code = pattern.charCodeAt(i);
    if (c === '\\') {
      // \ and an ASCII punctuation character: that character; anything else is an escape
      // sequence (a class, an assertion, a code point, quoted text), where the literal start ends
      const next = pattern.charCodeAt(i + 1);
      if (!printableAscii(next) || alnum(next)) break;
      prefix += pattern[i + 1]!;
      i += 2;
      continue;
    }
    if (META.has(c) || !printableAscii(code)) break;
    prefix += c;
    i++;
  }
  if (i === pattern.length) return { prefix: prefix.toLowerCase(), literal: true };
  return { prefix: prefix.slice(0, -1).toLowerCase(), literal: false };
}

/** compareStart: `input` does not begin with the prefix, so the pattern cannot match. */
export const START_DIFFERS = 0;
/** compareStart: `input` begins with the prefix. */
export const START_FITS = 1;
/** compareStart: only the engine can tell (a character beyond ASCII where the prefix has another). */
export const START_UNSURE = 2;

/**
 * Whether `input` begins with `prefix` (lower-case ASCII), ignoring ASCII case. RE2 folds
 * case by Unicode's rules, where two characters beyond ASCII fold to ASCII letters ('ſ' to
 * 's', the Kelvin sign to 'k'): a difference at such a character (at any beyond ASCII, to keep
 * the rule simple) is START_UNSURE, never START_DIFFERS, so the prefix never refuses what the
 * engine would accept. No allocation.
 */
export function compareStart(input: string, prefix: string): number {
  const n = prefix.length;
  if (input.length < n) return START_DIFFERS;
  for (let i = 0; i < n; i++) {
    let c = input.charCodeAt(i);
    if (c >= 65 && c <= 90) c |= 32;
    if (c !== prefix.charCodeAt(i)) return c >= 0x80 ? START_UNSURE : START_DIFFERS;
  }
  return START_FITS;
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
  const prefix = start.prefix;
  const literal = start.literal;
  return Object.freeze({
    source: pattern,
    re,
    groups: re.groupCount(),
    test:
      prefix === ''
        ? (input: string): boolean => engine.match(input)
        : (input: string): boolean => {
            const fit = compareStart(input, prefix);
            if (fit === START_DIFFERS) return false;
            return (literal && fit === START_FITS) || engine.match(input);
          },
    prefix,
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
