// What can be checked without building the image (e2e/image.test.ts builds it with buildah):
// every COPY source exists, the build and deps stages produce what the runtime stage copies, the
// entry point is in the build output, and a production install (npm ci --omit=dev
// --ignore-scripts of package.json + lock, plus dist/ and bin/) trimmed by
// scripts/prune-runtime-deps.mjs as the deps stage does starts the program and loads everything
// it may load.

import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { FLAGS } from '../../src/config/settings.ts';
import { ROOT, run, type RunResult } from './helm.ts';
import { RUNTIME_LOADS, expectedLoads } from './runtime-loads.ts';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** A small Dockerfile reader: comments, line continuations, ARG defaults in FROM, stages. */
function readDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'ARG' && stages.length === 0) {
      const [name, value = ''] = rest.split('=', 2);
      args.set(name!.trim(), value.trim());
    } else if (op === 'FROM') {
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest.replace(/--platform=\S+\s+/, ''));
      if (!fm) throw new Error(`cannot read FROM ${rest}`);
      const image = fm[1]!.replace(/\$\{?(\w+)\}?/g, (_, n: string) => args.get(n) ?? '');
      stages.push({ image, name: fm[2], instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${op} before FROM`);
      stage.instructions.push({ op, args: rest });
    }
  }
  return stages;
}

/** COPY [--from=X] [--chown=..] src... dest → { from, sources, dest } */
function readCopy(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.trim().startsWith('[') ? (JSON.parse(args) as string[]) : args.trim().split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    if (w.startsWith('--from=')) from = w.slice('--from='.length);
    else if (!w.startsWith('--')) rest.push(w);
  }
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

/** .dockerignore patterns as exact top-level names or simple globs (all this repository uses). */
function ignoredByDockerignore(path: string, patterns: string[]): boolean {
  let ignored = false;
  for (const p of patterns) {
    const negate = p.startsWith('!');
    const pattern = (negate ? p.slice(1) : p).replace(/^\/+|\/+$/g, '');
    const re = new RegExp('^' + pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*') + '(/.*)?$');
    if (re.test(path)) ignored = !negate;
  }
  return ignored;
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const stages = readDockerfile(dockerfile);
const build = stages.find((s) => s.name === 'build');
const deps = stages.find((s) => s.name === 'deps');
const runtime = stages.at(-1)!;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };

let work: string;
let distDir: string;
let compiled: RunResult;

beforeAll(async () => {
  // What `npm run build` produces in the build stage, compiled into a temporary directory.
  // tsc emits even on type errors; the build test below reports them, the others use the output.
  work = mkdtempSync(join(tmpdir(), 'portico-image-'));
  distDir = join(work, 'app', 'dist');
  compiled = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', distDir]);
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('Dockerfile', () => {
  it('npm run build (tsc -p tsconfig.build.json) succeeds, as the build stage needs', () => {
    expect(compiled.code, `the build stage would fail:\n${compiled.stdout}${compiled.stderr}`).toBe(0);
  });

  it('builds and installs on node:24-bookworm-slim, and runs on its Debian without npm', () => {
    expect(build, 'a stage named build').toBeDefined();
    expect(deps, 'a stage named deps').toBeDefined();
    expect(build?.image).toBe('node:24-bookworm-slim');
    expect(deps?.image).toBe('node:24-bookworm-slim');
    // the node image's own base: the node binary copied from it runs on the same libc
    expect(runtime.image).toBe('debian:bookworm-slim');
    const runs = (s: Stage | undefined) => (s?.instructions ?? []).filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs(build).some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs(build).some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    // Production dependencies only; `prepare` (the build) and the `node` package's download
    // skipped; then trimmed to what the program loads.
    expect(runs(deps).some((r) => /\bnpm ci\b/.test(r) && r.includes('--omit=dev') && r.includes('--ignore-scripts'))).toBe(true);
    expect(runs(deps).at(-1)).toBe('node /tmp/prune-runtime-deps.mjs /app');
    // Nothing runs in the runtime stage: npm never enters it, and only what is copied is there.
    expect(runs(runtime)).toEqual([]);
  });

  it('every COPY source exists in the repository and is not excluded by .dockerignore', () => {
    const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    let copies = 0;
    for (const stage of stages) {
      for (const i of stage.instructions.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
        expect(i.op, 'COPY, not ADD').toBe('COPY');
        const { from, sources } = readCopy(i.args);
        if (from) continue;
        for (const src of sources) {
          copies++;
          expect(existsSync(join(ROOT, src)), `COPY ${src}: missing in the repository`).toBe(true);
          expect(ignoredByDockerignore(src.replace(/^\.\//, ''), patterns), `COPY ${src}: excluded by .dockerignore`).toBe(false);
        }
      }
    }
    expect(copies).toBeGreaterThan(4);
  });

  it('the build stage copies what tsconfig.build.json needs; the runtime stage copies node and dist/ from it, node_modules from deps', () => {
    const copied = new Set((build?.instructions ?? []).filter((i) => i.op === 'COPY').flatMap((i) => readCopy(i.args).sources.map((s) => s.replace(/^\.\/|\/$/g, ''))));
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { extends?: string; include: string[]; compilerOptions: { outDir: string } };
    for (const needed of [...tsconfig.include, 'tsconfig.build.json', ...(tsconfig.extends ? [tsconfig.extends.replace(/^\.\//, '')] : [])]) {
      expect(copied.has(needed), `build stage does not copy ${needed}`).toBe(true);
    }
    const workdir = build?.instructions.filter((i) => i.op === 'WORKDIR').at(-1)?.args;
    const copies = (s: Stage | undefined) => (s?.instructions ?? []).filter((i) => i.op === 'COPY').map((i) => readCopy(i.args));
    const dist = `${workdir}/${tsconfig.compilerOptions.outDir}`;
    expect(copies(runtime).filter((c) => c.from === 'build')).toEqual([
      { from: 'build', sources: ['/usr/local/bin/node'], dest: '/usr/local/bin/node' },
      { from: 'build', sources: [dist], dest: './dist' },
    ]);
    const depsWorkdir = deps?.instructions.filter((i) => i.op === 'WORKDIR').at(-1)?.args;
    expect(copies(runtime).filter((c) => c.from === 'deps')).toEqual([{ from: 'deps', sources: [`${depsWorkdir}/node_modules`], dest: './node_modules' }]);
    // the prune script reads dist/'s imports
    expect(copies(deps).filter((c) => c.from === 'build').map((c) => c.sources)).toEqual([[dist]]);
    const runtimeSources = copies(runtime).filter((c) => c.from === undefined).flatMap((c) => c.sources);
    expect(runtimeSources.sort()).toEqual(['bin', 'package.json']); // package.json: "type": "module"
  });

  it('runs as UID 10001 with the entry point node /app/dist/cli.js, which the build produces', () => {
    const last = (op: string) => runtime.instructions.filter((i) => i.op === op).at(-1)?.args;
    expect(last('USER')).toMatch(/^10001(:\d+)?$/);
    expect(JSON.parse(last('ENTRYPOINT') ?? '[]')).toEqual(['/usr/local/bin/node', '/app/dist/cli.js']);
    expect(last('WORKDIR')).toBe('/app');
    expect(existsSync(join(distDir, 'cli.js')), 'dist/cli.js in the build output').toBe(true);
    expect(existsSync(join(ROOT, 'bin', 'portico.js'))).toBe(true);
    // Nothing in the image declares writable state (read-only root filesystem; /tmp is an emptyDir).
    expect(runtime.instructions.some((i) => i.op === 'VOLUME')).toBe(false);
  });

  it('sets 16 MiB semi-spaces through NODE_OPTIONS (Node picks 1 MiB in a small container)', () => {
    expect(runtimeEnv().NODE_OPTIONS).toBe('--max-semi-space-size=16');
  });
});

/** The runtime stage's ENV, as `ENV NAME=value` lines set it. */
function runtimeEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of runtime.instructions) {
    if (i.op !== 'ENV') continue;
    const m = /^(\w+)=(\S*)$/.exec(i.args.trim());
    if (!m) throw new Error(`ENV ${i.args}: only NAME=value is read here`);
    env[m[1]!] = m[2]!;
  }
  return env;
}

describe('production install', () => {
  it('npm ci --omit=dev --ignore-scripts and the deps stage\'s trim, then node dist/cli.js --version and --help work and everything loads', async () => {
    const app = join(work, 'app');
    cpSync(join(ROOT, 'bin'), join(app, 'bin'), { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) writeFileSync(join(app, f), readFileSync(join(ROOT, f)));
    // Under `npm test` the environment carries npm_* settings of the project's own npm run
    // (its prefix among them): leave them all out, and name the prefix explicitly.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
    Object.assign(env, { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' });
    const ping = await run('npm', ['ping'], { cwd: app, env, timeoutMs: 15_000 }).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
    // CI and development machines reach the npm registry; without it the check cannot run, and
    // that is a failure to look at, not a pass.
    expect(ping.code, `the npm registry is unreachable (npm ping: ${(ping.stderr || ping.stdout).trim().split('\n').at(-1)}); the production install cannot be checked`).toBe(0);
    const install = await run('npm', ['ci', '--prefix', app, '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, env, timeoutMs: 100_000 });
    expect(install.code, `npm ci --omit=dev --ignore-scripts failed:\n${install.stderr}`).toBe(0);
    // No dev dependency came along (the compiler, the `node` package).
    expect(existsSync(join(app, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'node'))).toBe(false);
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(true);

    // the deps stage's trim (the build output is already in app/dist)
    const prune = await run(process.execPath, [join(ROOT, 'scripts', 'prune-runtime-deps.mjs'), app], { cwd: '/' });
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/^prune-runtime-deps: node_modules [\d.]+ MB -> [\d.]+ MB/);
    expect(existsSync(join(app, 'node_modules', '@kubernetes', 'client-node', 'dist', 'gen', 'apis'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'tar-fs')), 'client-node\'s cp only').toBe(false);
    const loads = await run(process.execPath, [RUNTIME_LOADS, app], { cwd: '/' });
    expect(loads.code, loads.stderr).toBe(0);
    expect(JSON.parse(loads.stdout)).toEqual(expectedLoads());

    // cli.js imports the whole program before it reads the flags: a missing production
    // dependency fails here.
    // with the image's environment: Node refuses to start on a NODE_OPTIONS flag it does not know
    const version = await run(process.execPath, [join(app, 'dist', 'cli.js'), '--version'], { cwd: '/', env: { PATH: process.env.PATH ?? '', ...runtimeEnv() } });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(`portico ${pkg.version}`);

    const help = await run(process.execPath, [join(app, 'dist', 'cli.js'), '--help'], { cwd: '/', env: { PATH: process.env.PATH ?? '' } });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: portico/);
    for (const f of FLAGS) expect(help.stdout).toContain(`--${f.name}`);

    const launcher = await run(process.execPath, [join(app, 'bin', 'portico.js'), '--version'], { cwd: '/', env: { PATH: process.env.PATH ?? '' } });
    expect(launcher.stdout.trim()).toBe(`portico ${pkg.version}`);
  }, 120_000);
});

