// The room table of DESIGN.md ("Rooms (src/)"), checked against the imports under src/.
// A room is a folder under src/ (or a top-level file such as main.ts); its row says which
// other rooms its modules may import. "X types" means `import type` / `export type ... from`
// only: those leave no import at run time (`import { type A }` does, under
// verbatimModuleSyntax, so it counts as a value import). Importing one's own room is always
// allowed.
//
// What is read: static `import ... from '...'` (with `import type`), `export ... from '...'`,
// side-effect `import '...'` and `import('...')` with a literal specifier, all relative (the
// only way one of our modules names another). Declarations start a line, as the formatter
// writes them; a relative specifier after `from` or `import` that the reader did not
// attribute to a declaration fails the test, so nothing is skipped silently.

import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * Each room's allowances. `'store/'`: any module of that room; `'model/ types'`: type-only
 * imports of that room; a path such as `'sources/kubernetes/api.ts'`: that module only.
 * `values/` is added to every row (see VALUES).
 */
const TABLE: Readonly<Record<string, readonly string[]>> = {
  'values/': [],
  'config/': [],
  'observe/': ['model/ types'],
  'store/': [],
  'model/': ['store/'],
  'endpoints/': ['store/ types'],
  'reconcile/': ['model/', 'store/'],
  'tls/': ['model/ types', 'store/'],
  'proxy/': ['model/', 'endpoints/', 'tls/ types'],
  'sources/': ['store/'],
  // "sources/ client": the Kubernetes API client, not the watches.
  'cluster/': ['sources/kubernetes/api.ts', 'model/ types'],
  // "Kubernetes writer": the same client (acme reads its own Secrets and writes them).
  'acme/': ['store/', 'model/ types', 'sources/kubernetes/api.ts'],
  'workers/': ['runtime/', 'store/', 'model/'],
  // `portico migrate-check`: reads objects once through the sources' readers and client, and
  // judges them with the model's own class selection and annotation parsers.
  'migrate/': ['model/', 'sources/', 'store/', 'config/'],
  // `portico explain` and /debug/explain: reads objects once through the sources, translates
  // with the model, and restates the proxy's lookup (normalised path, canary rules, TLS hosts).
  'explain/': ['model/', 'endpoints/', 'proxy/', 'sources/', 'store/', 'config/', 'observe/log.ts'],
  // "everything above": every room, but not main.ts or the entry points.
  'runtime/': ['values/', 'config/', 'observe/', 'store/', 'model/', 'endpoints/', 'reconcile/', 'tls/', 'proxy/', 'sources/', 'cluster/', 'acme/', 'workers/', 'explain/'],
  'main.ts': ['*'],
  // Not in DESIGN.md's table: a startup side effect (see the file); entry points import it first.
  'async-context-frame.ts': [],
};

/** The leaf room of values (DNS names, CIDRs, durations, sizes): it imports nothing of ours, every room may import it. */
const VALUES = 'values/';

/** Process entry points: they may import anything, and they alone may import main.ts. */
const ENTRY_POINTS: ReadonlySet<string> = new Set(['cli.ts', 'demo.ts', 'workers/worker-main.ts']);

/**
 * Imports that break the table today, each with why it stays for now. `from` and `to` are a
 * module, a room (`'acme/'`) or a list of them; `types`: only type-only imports are let
 * through. An entry that no longer matches any import fails the test: remove it then.
 */
const ALLOWED: readonly { from: string | readonly string[]; to: string; types?: true; why: string }[] = [
  {
    // A gap in the table rather than a wrong import: DESIGN.md gives observe/ the logger but
    // no row lists it. Proposed: "observe/log.ts: every room with I/O" (it imports nothing of
    // ours). Values too: endpoints/ defaults to silentLogger, a worker creates its own logger.
    from: ['acme/', 'cluster/', 'endpoints/', 'proxy/', 'reconcile/', 'sources/', 'tls/', 'workers/'],
    to: 'observe/log.ts',
    why: 'the Logger each room is handed',
  },
  {
    // Proposed for DESIGN.md: the cluster/ row gains "store/ types".
    from: 'cluster/',
    to: 'store/',
    types: true,
    why: 'status is written for objects read from the store (our Ingresses, the --publish-service Service)',
  },
  {
    // Proposed for DESIGN.md: the workers/ row gains "config/ types".
    from: 'workers/',
    to: 'config/settings.ts',
    types: true,
    why: 'the primary sends its Settings to each worker (InitMessage); the pool reads the worker count and ports',
  },
  {
    // The table's "Kubernetes writer" covers the API client (sources/kubernetes/api.ts), not
    // the watch machinery. Fixing it means a sources/ entry point for "watch this one object"
    // or feeding the Secret through the main store (whose Secret watch sees only TLS Secrets).
    from: 'acme/challenges.ts',
    to: 'sources/kubernetes/informer.ts',
    why: "every replica watches the one Opaque challenge Secret with the sources' resilient informer",
  },
  {
    from: 'acme/challenges.ts',
    to: 'sources/kubernetes/resources.ts',
    types: true,
    why: 'the ResourceSpec that narrows that informer to the challenge Secret',
  },
];

/** Whether `path` (a module relative to src/) is, or is inside, one of `where`. */
function within(path: string, where: string | readonly string[]): boolean {
  return (typeof where === 'string' ? [where] : where).some((w) => (w.endsWith('/') ? path.startsWith(w) : path === w));
}

interface Import {
  readonly specifier: string;
  readonly typeOnly: boolean;
}

const DECLARATION = new RegExp(
  [
    // import [type] clause from '...'
    String.raw`^import\s+(type\s+)?(?:[\w$]+\s*,\s*)?(?:\{[^}]*\}|\*\s*as\s+[\w$]+|[\w$]+)\s*from\s*(['"])([^'"\n]+)\2`,
    // export [type] { ... } | * [as x] from '...'
    String.raw`^export\s+(type\s+)?(?:\{[^}]*\}|\*(?:\s*as\s+[\w$]+)?)\s*from\s*(['"])([^'"\n]+)\5`,
    // import '...' (side effect)
    String.raw`^import\s*(['"])([^'"\n]+)\7`,
    // import('...')
    String.raw`\bimport\(\s*(['"])([^'"\n]+)\9\s*\)`,
  ].join('|'),
  'gm',
);
const ANY_RELATIVE = /(?:\bfrom|\bimport\s*\(?)\s*['"]\.\.?\//g;

/** The imports of one module's text; throws when a relative specifier was not attributed. */
function readImports(text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(DECLARATION)) {
    const specifier = m[3] ?? m[6] ?? m[8] ?? m[10]!;
    out.push({ specifier, typeOnly: m[1] !== undefined || m[4] !== undefined });
  }
  const relative = out.filter((i) => i.specifier.startsWith('.')).length;
  const seen = [...text.matchAll(ANY_RELATIVE)].length;
  if (seen !== relative) throw new Error(`${seen} relative specifiers after from/import, ${relative} read as declarations: teach readImports this form`);
  return out;
}

/** `proxy/` for src/proxy/proxy.ts, `main.ts` for src/main.ts. */
function roomOf(path: string): string {
  const slash = path.indexOf('/');
  return slash < 0 ? path : path.slice(0, slash + 1);
}

/** Why `from` may not import `to` (paths relative to src/), or undefined when it may. */
function ruleBroken(from: string, to: string, typeOnly: boolean): string | undefined {
  const room = roomOf(from);
  const target = roomOf(to);
  if (ENTRY_POINTS.has(from)) return undefined;
  if (target === 'main.ts' || ENTRY_POINTS.has(to)) return `${to} is imported by the entry points only (${[...ENTRY_POINTS].join(', ')})`;
  if (room === target) return undefined;
  const row = TABLE[room];
  if (row === undefined) return `${room} has no row in the room table (test/rooms.test.ts TABLE, from DESIGN.md)`;
  if (target === VALUES) return undefined;
  let typesGrant = false;
  for (const grant of row) {
    const types = grant.endsWith(' types');
    const what = types ? grant.slice(0, -' types'.length) : grant;
    const covers = what === '*' || (what.endsWith('/') ? to.startsWith(what) : to === what);
    if (!covers) continue;
    if (!types || typeOnly) return undefined;
    typesGrant = true;
  }
  const may = [...row, VALUES].join(', ');
  if (typesGrant) return `${room} may import ${target} types only (import type), and this is a value import; ${room} may import: ${may}`;
  return `${room} may not import ${target}; ${room} may import: ${may}`;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file).split('\\').join('/');
    let imports: Import[];
    try {
      imports = readImports(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`src/${from}: ${(err as Error).message}`);
    }
    for (const i of imports) {
      if (!i.specifier.startsWith('.')) continue;
      const to = posix.normalize(posix.join(posix.dirname(from), i.specifier));
      if (to.startsWith('../')) continue; // outside src/ (package.json): not a room
      out.push({ from, to, typeOnly: i.typeOnly });
    }
  }
  return out;
}

describe('rooms (DESIGN.md "Rooms (src/)")', () => {
  it('every import under src/ is one its room may make', () => {
    const broken: string[] = [];
    const used = new Set<number>();
    for (const e of edges()) {
      const why = ruleBroken(e.from, e.to, e.typeOnly);
      if (why === undefined) continue;
      const allowed = ALLOWED.findIndex((a) => within(e.from, a.from) && within(e.to, a.to) && (a.types !== true || e.typeOnly));
      if (allowed >= 0) {
        used.add(allowed);
        continue;
      }
      broken.push(`src/${e.from} imports src/${e.to}: ${why}`);
    }
    expect(broken, 'imports against the room table (change DESIGN.md on purpose, or the import)').toEqual([]);
    const stale = ALLOWED.filter((_, i) => !used.has(i)).map((a) => `${String(a.from)} → ${a.to} (${a.why})`);
    expect(stale, 'ALLOWED entries that no longer match an import: remove them').toEqual([]);
  });

  it('every room under src/ has a row', () => {
    const rooms = new Set(sourceFiles(SRC).map((f) => roomOf(relative(SRC, f).split('\\').join('/'))));
    const missing = [...rooms].filter((r) => TABLE[r] === undefined && !ENTRY_POINTS.has(r));
    expect(missing).toEqual([]);
  });

  it('the checker reports a forbidden import, naming the rule', () => {
    expect(ruleBroken('workers/worker.ts', 'main.ts', false)).toMatch(/main\.ts is imported by the entry points only/);
    expect(ruleBroken('config/settings.ts', 'workers/pool.ts', false)).toMatch(/config\/ may not import workers\/; config\/ may import: values\//);
    expect(ruleBroken('observe/metrics.ts', 'model/types.ts', false)).toMatch(/observe\/ may import model\/ types only/);
    expect(ruleBroken('values/cidr.ts', 'config/settings.ts', true)).toMatch(/values\/ may not import config\//);
    expect(ruleBroken('cluster/status.ts', 'sources/kubernetes/informer.ts', false)).toMatch(/cluster\/ may not import sources\//);
    // and lets the allowed ones through
    expect(ruleBroken('observe/metrics.ts', 'model/types.ts', true)).toBeUndefined();
    expect(ruleBroken('proxy/proxy.ts', 'values/cidr.ts', false)).toBeUndefined();
    expect(ruleBroken('cluster/status.ts', 'sources/kubernetes/api.ts', false)).toBeUndefined();
    expect(ruleBroken('cli.ts', 'main.ts', false)).toBeUndefined();
    expect(ruleBroken('runtime/core.ts', 'main.ts', false)).toMatch(/entry points only/);
  });

  it('the reader sees every form of import we write', () => {
    const text = [
      "import { a, type B } from './a.ts';",
      "import type { C } from '../c.ts';",
      'import {',
      '  d,',
      '  e,',
      "} from '../d.ts';",
      "import f, { g } from './f.ts';",
      "import * as h from './h.ts';",
      "import './side-effect.ts';",
      "export { i } from './i.ts';",
      "export type { J } from './j.ts';",
      "export * from './k.ts';",
      "const l = await import('./l.ts');",
      "import http from 'node:http';",
      '  // from a comment: "import x" is not a declaration',
    ].join('\n');
    expect(readImports(text)).toEqual([
      { specifier: './a.ts', typeOnly: false },
      { specifier: '../c.ts', typeOnly: true },
      { specifier: '../d.ts', typeOnly: false },
      { specifier: './f.ts', typeOnly: false },
      { specifier: './h.ts', typeOnly: false },
      { specifier: './side-effect.ts', typeOnly: false },
      { specifier: './i.ts', typeOnly: false },
      { specifier: './j.ts', typeOnly: true },
      { specifier: './k.ts', typeOnly: false },
      { specifier: './l.ts', typeOnly: false },
      { specifier: 'node:http', typeOnly: false },
    ]);
    // an import the reader cannot place (here, not at the start of a line) fails loudly
    expect(() => readImports("const x = 1; import { y } from './y.ts';")).toThrow(/teach readImports/);
  });
});
