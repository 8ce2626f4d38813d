// The literal-prefix prefilter of regex paths (model/regex.ts): the text every match of
// `^<path>` (case-insensitive, as ingress-nginx's `location ~* "^<path>"`) begins with. A
// lookup compares it before running the engine, so a prefix that is too long would refuse
// paths the engine accepts. Checked here pattern by pattern for the tricky shapes, and by a
// seeded differential test: random patterns built from RE2's syntax, each compared with the
// engine alone on paths made to match them and on their near misses.

import { describe, expect, it } from 'vitest';
import { compareStart, compileUserRegex, literalStart, START_DIFFERS, START_FITS, START_UNSURE, type UserRegex } from '../../src/model/regex.ts';
import { PathTable } from '../../src/model/path-table.ts';
import { pathRegex } from '../../src/model/route-options.ts';
import { DEFAULT_POLICY, FORWARD, NO_FILTERS, type Route } from '../../src/model/types.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pathRx(pattern: string): UserRegex {
  const rx = compileUserRegex(pattern, { anchor: '^', caseInsensitive: true });
  if ('invalid' in rx) throw new Error(`${pattern}: ${rx.invalid}`);
  return rx;
}

/** The engine alone (RE2JS.test), never the prefix. */
function engine(rx: UserRegex, input: string): boolean {
  return rx.re.test(input);
}

describe('literalStart', () => {
  it.each([
    // [pattern, prefix, whole pattern literal]
    ['/api', '/api', true],
    ['/API/V1', '/api/v1', true],
    ['/static/.*\\.(js|css)', '/static', false], // alternation inside a group: after the prefix
    ['/svc12/static/.*\\.(js|css)', '/svc12/static', false],
    ['/a|/b', '', false], // alternation of whole patterns
    ['/a(b|c)|/d', '', false],
    ['(/a|/b)/c', '', false], // alternation at the start
    ['/[ab]c', '', false], // character class (the character before any metacharacter is dropped)
    ['/[|(]x', '', false],
    ['/api/v2?', '/api/v', false], // optional last character
    ['/x*', '/', false],
    ['/ab{0,2}', '/a', false],
    ['/ab+', '/a', false], // a quantifier's character is dropped whatever the quantifier
    ['/a{', '/', false], // '{' that is no repeat is literal in RE2; dropping is only cautious
    ['/foo\\.bar', '/foo.bar', true], // escaped punctuation is that character
    ['/foo\\.bar?', '/foo.ba', false],
    ['/a\\*', '/a*', true],
    ['/a\\|b', '/a|b', true], // an escaped '|' is no alternation
    ['/a\\d', '/', false], // escape sequences end it
    ['/a\\x41', '/', false],
    ['/ab\\Qb|c\\E', '/a', false], // quoted '|' is no alternation
    ['/ab$', '/a', false],
    ['/ab^b', '/a', false],
    ['.*', '', false],
    ['/caf\u00e9', '/ca', false], // beyond ASCII is the engine's business
    ['/kx(/|$)(.*)', '/k', false],
    ['/(?i)x', '', false],
    ['/xy(?-i)Y', '/x', false],
    ['/ab(?i)?', '/a', false], // a quantifier after flags applies to the 'b'
    ['/ab\\Q\\E*', '/a', false], // and after empty quoted text
    ['/xy[]|]', '/x', false], // ']' first in a class is a member, so is the '|' after it
    ['/xy[^]|]', '/x', false],
    ['/xy[[:alpha:]|]', '/x', false],
  ])('%s → %j (literal: %s)', (pattern, prefix, literal) => {
    expect(literalStart(pattern)).toEqual({ prefix, literal });
    pathRx(pattern); // valid RE2, so the case is real
  });

  it.each([
    // the '|' is outside every group for RE2, though a careless reading would put it in a class or group
    '/x[!-[:]|/b:]]', // '[!-[' is a range: the class ends at its first ']'
    '/x[\\d-[:alpha:](]|[\\d-[:alpha:])]', // '\d' starts no range: '[:alpha:]' is a named class
    '/x[\\pL-[:alpha:](]|[\\p{Greek}-[:alpha:])]',
    '/x[\\x{5d}-a(]|[\\101-a)]',
    '/x\\Q(\\E|/b\\Q)\\E',
    '/x[a-]|/b',
  ])('%s has a top-level alternation: no prefix', (pattern) => {
    const rx = pathRx(pattern);
    expect(rx.prefix).toBe('');
    expect(engine(rx, '/b:]]') || engine(rx, '1') || engine(rx, '/b)') || engine(rx, '/b') || engine(rx, 'a') || engine(rx, 'A')).toBe(true);
  });

  it('a class with a "|" or parenthesis inside does not hide a real alternation after it', () => {
    // what RE2 reads as a class member must not open a group for the scanner
    const rx = pathRx('/x[(]|/b');
    expect(rx.prefix).toBe('');
    expect(rx.test('/b')).toBe(true);
  });
});

describe('compareStart', () => {
  it('ignores ASCII case, and never refuses what Unicode case folding could accept', () => {
    expect(compareStart('/API/x', '/api')).toBe(START_FITS);
    expect(compareStart('/apx', '/api')).toBe(START_DIFFERS);
    expect(compareStart('/ap', '/api')).toBe(START_DIFFERS);
    expect(compareStart('', '')).toBe(START_FITS);
    // 'ſ' (U+017F) folds to 's' and the Kelvin sign to 'k' in RE2: the engine decides
    expect(compareStart('/\u017ftatic', '/static')).toBe(START_UNSURE);
    expect(compareStart('/\u212a', '/k')).toBe(START_UNSURE);
    expect(compareStart('/\u00e9', '/e')).toBe(START_UNSURE);
  });

  it('matches as RE2 does where case folding goes beyond ASCII', () => {
    for (const [pattern, input] of [
      ['/static', '/\u017ftatic/x'],
      ['/static/.*\\.js', '/\u017fTATIC/a.js'],
      ['/kube', '/\u212aube'],
    ] as const) {
      const rx = pathRx(pattern);
      expect(engine(rx, input), `${pattern} on ${input}: RE2 folds`).toBe(true);
      expect(rx.test(input), `${pattern} on ${input}`).toBe(true);
    }
  });
});

// ---- differential: random patterns against the engine alone ------------------------------

/** A piece of pattern with ways to produce text it matches. */
interface Piece {
  readonly src: string;
  sample(rand: () => number): string;
}

const pick = <T,>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

function flipCase(rand: () => number, s: string): string {
  let out = '';
  for (const c of s) out += rand() < 0.5 ? c.toUpperCase() : c.toLowerCase();
  return out;
}

const lit = (src: string, text: string = src): Piece => ({ src, sample: (r) => flipCase(r, text) });
const oneOf = (src: string, texts: readonly string[]): Piece => ({ src, sample: (r) => pick(r, texts) });

/** Atoms: literal text, escapes and the classes that a scanner could misread. */
const ATOMS: readonly Piece[] = [
  lit('/'),
  lit('a'),
  lit('b'),
  lit('k'),
  lit('s'),
  lit('x'),
  lit('1'),
  lit(':'),
  lit('-'),
  lit('/api'),
  lit('/svc1'),
  lit('\\.', '.'),
  lit('\\/', '/'),
  lit('\\|', '|'),
  lit('\\(', '('),
  lit('\\[', '['),
  lit('\\-', '-'),
  oneOf('.', ['a', '/', '.', 'Z']),
  oneOf('[ab]', ['a', 'B']),
  oneOf('[]a]', [']', 'a']),
  oneOf('[^]|]', ['a', 'x']),
  oneOf('[|(]', ['|', '(']),
  oneOf('[[:alpha:]|]', ['q', '|']),
  oneOf('[!-[:]', ['!', '[', ':', '/']),
  oneOf('[\\d-[:alpha:](]', ['1', '-', 'z', '(']),
  oneOf('[a-]', ['a', '-']),
  oneOf('\\d', ['0', '7']),
  oneOf('\\pL', ['a', 'Q']),
  oneOf('\\x{2f}', ['/']),
  oneOf('\\101', ['a', 'A']),
  oneOf('\\Q(|\\E', ['(|']),
  oneOf('\\Q]\\E', [']']),
  oneOf('\u017f', ['s', 'S', '\u017f']), // ſ folds to s
  oneOf('\u212a', ['k', 'K', '\u212a']), // Kelvin sign folds to k
];

class PatternGen {
  private readonly rand: () => number;
  constructor(rand: () => number) {
    this.rand = rand;
  }

  /** A sequence of 1..4 items. */
  seq(depth: number): Piece {
    const n = 1 + Math.floor(this.rand() * 4);
    const items: Piece[] = [];
    for (let i = 0; i < n; i++) items.push(this.item(depth));
    return { src: items.map((p) => p.src).join(''), sample: (r) => items.map((p) => p.sample(r)).join('') };
  }

  /** An alternation of sequences, or one sequence. */
  alt(depth: number): Piece {
    if (this.rand() < 0.7) return this.seq(depth);
    const a = this.seq(depth);
    const b = this.seq(depth);
    return { src: `${a.src}|${b.src}`, sample: (r) => (r() < 0.5 ? a : b).sample(r) };
  }

  item(depth: number): Piece {
    const r = this.rand();
    let base: Piece;
    if (r < 0.2 && depth < 2) {
      const inner = this.alt(depth + 1);
      const open = pick(this.rand, ['(', '(?:', '(?i:', '(?-i:']);
      base = { src: `${open}${inner.src})`, sample: (s) => inner.sample(s) };
    } else if (r < 0.25) {
      base = pick(this.rand, [
        { src: '^', sample: () => '' },
        { src: '$', sample: () => '' },
        { src: '(?i)', sample: () => '' },
      ]);
    } else {
      base = pick(this.rand, ATOMS);
    }
    const q = this.rand();
    if (q < 0.12) return { src: `${base.src}?`, sample: (s) => (s() < 0.5 ? '' : base.sample(s)) };
    if (q < 0.2) return { src: `${base.src}*`, sample: (s) => repeat(s, base, 0, 2) };
    if (q < 0.26) return { src: `${base.src}+`, sample: (s) => repeat(s, base, 1, 2) };
    if (q < 0.3) return { src: `${base.src}{0,2}`, sample: (s) => repeat(s, base, 0, 2) };
    return base;
  }
}

function repeat(rand: () => number, p: Piece, min: number, max: number): string {
  const n = min + Math.floor(rand() * (max - min + 1));
  let out = '';
  for (let i = 0; i < n; i++) out += p.sample(rand);
  return out;
}

/** Near misses of `s`: a character dropped, changed or case-flipped, a suffix added. */
function mutations(rand: () => number, s: string): string[] {
  const out = [s, `${s}/tail`, s.toUpperCase(), s.toLowerCase()];
  if (s.length > 0) {
    const i = Math.floor(rand() * s.length);
    out.push(s.slice(0, i) + s.slice(i + 1));
    out.push(s.slice(0, i) + pick(rand, ['/', 'a', 'K', '\u212a', '\u017f', '|', '(', ']', '.']) + s.slice(i + 1));
    out.push(s.slice(0, i));
  }
  return out;
}

describe('prefix prefilter against the engine (seeded)', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: the prefilter never changes a match, and the prefix starts every match', (seed) => {
    const rand = rng(seed);
    const gen = new PatternGen(rand);
    let valid = 0;
    let matched = 0;
    let prefixed = 0;
    for (let n = 0; n < 250; n++) {
      // paths start with '/' (the API requires it), but the prefix logic must hold for any pattern
      const top = gen.alt(0);
      const lead = rand() < 0.8 ? pick(rand, ['/', '/', '/svc1', '/Api/', '/k', '/s']) : '';
      const src = lead + top.src;
      const sample = (r: () => number) => flipCase(r, lead) + top.sample(r);
      const rx = compileUserRegex(src, { anchor: '^', caseInsensitive: true });
      if ('invalid' in rx) continue;
      valid++;
      if (rx.prefix !== '') prefixed++;
      for (let k = 0; k < 4; k++) {
        for (const input of mutations(rand, sample(rand))) {
          const want = engine(rx, input);
          if (want) {
            matched++;
            expect(compareStart(input, rx.prefix), `${src} (prefix ${JSON.stringify(rx.prefix)}) on ${JSON.stringify(input)}`).not.toBe(START_DIFFERS);
          }
          expect(rx.test(input), `${src} (prefix ${JSON.stringify(rx.prefix)}, literal ${rx.literal}) on ${JSON.stringify(input)}`).toBe(want);
        }
      }
    }
    // the generator must exercise what it is meant to: valid patterns, real prefixes, matches
    expect(valid).toBeGreaterThan(150);
    expect(prefixed).toBeGreaterThan(50);
    expect(matched).toBeGreaterThan(500);
  });
});

// ---- path tables of regex hosts ------------------------------------------------------------

function regexRoute(p: string, n: number): Route {
  const regex = pathRegex(p);
  if ('invalid' in regex) throw new Error(regex.invalid);
  return {
    host: 'h',
    path: p,
    pathType: 'ImplementationSpecific',
    regex,
    action: FORWARD,
    filters: NO_FILTERS,
    policy: DEFAULT_POLICY,
    backend: { namespace: 'n', service: `s${n}`, servicePort: 80, endpointsKey: `n/s${n}:` },
    ingress: { kind: 'Ingress', namespace: 'n', name: `i${n}` },
  } as Route;
}

/** Longest path first, as builder.ts orders a regex host (the sort is stable). */
function regexTable(paths: readonly string[]): { table: PathTable; routes: Route[] } {
  const routes = paths.map(regexRoute).sort((a, b) => b.path.length - a.path.length);
  return { table: new PathTable({ host: 'h', routes, fallback: null, regex: true }), routes };
}

describe('regex hosts: the table finds what a scan in match order with the engine alone finds', () => {
  const paths = [
    '/svc1001/static/.*\\.(js|css)',
    '/svc1002/static/.*\\.(js|css)',
    '/svc1001/api',
    '/svc1002/api/v[0-9]+/users',
    '/svc1001',
    '/svc1002/',
    '/(svc1001|svc1003)/alt',
    '/svc1003/x|/svc1004/y',
    '/[s]vc1004/class',
    '/svc1004/k',
    '/svc1005/static/',
    '/svc1005/healthz',
  ];
  const probes = [
    '/svc1001/static/app.js',
    '/SVC1001/STATIC/app.CSS',
    '/svc1001/static/app.png',
    '/svc1002/static/a.css',
    '/svc1002/api/v12/users',
    '/svc1002/api/vx/users',
    '/svc1001/apix',
    '/svc1003/alt',
    '/svc1004/y',
    '/svc1004/class',
    '/svc1004/\u212a', // Kelvin sign: RE2 folds it to k
    '/\u017fvc1005/healthz', // ſ in the bucketed characters
    '/svc1005/static/x',
    '/svc1006/none',
    '/',
    '',
  ];

  it.each([
    ['many rules (bucketed)', paths],
    ['few rules (scanned)', paths.slice(0, 8)],
  ])('%s', (_name, list) => {
    const { table, routes } = regexTable(list);
    for (const probe of probes) {
      const input = probe === '' ? '/' : probe;
      const naive = routes.find((r) => r.regex !== null && engine(r.regex, input)) ?? null;
      expect(table.match(probe)?.path ?? null, probe).toBe(naive?.path ?? null);
    }
  });

  it('first match wins in match order: longer paths first, equal lengths in their given order', () => {
    const { table } = regexTable(['/ABC', '/ab', '/abc/.*', '/a.*']);
    expect(table.match('/abc/x')?.path).toBe('/abc/.*');
    expect(table.match('/abcd')?.path).toBe('/ABC'); // '/ABC' (4) before '/a.*' (4): given order among equals
    expect(table.match('/abz')?.path).toBe('/a.*');
    expect(table.match('/ab')?.path).toBe('/a.*'); // '/ab' is shorter: tried after '/a.*', which matches
  });
});
