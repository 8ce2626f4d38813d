// The Dockerfile, built for real with buildah (no Docker engine, no registry): two base images
// are assembled here from this machine's own files — a Node 24 "node image" (this Node, npm,
// a shell, the C libraries they link, the CA bundle) and a runtime base (only the C libraries
// Node links) — and passed as NODE_IMAGE / RUNTIME_IMAGE. Then the image must start the
// program (--help through its ENTRYPOINT, as UID 10001), load every dependency the program may
// load (pruned node_modules), and carry no npm.
// Skipped only when buildah is not installed (scripts/ensure-test-deps.sh installs it on
// Debian/Ubuntu); buildah's storage lives in a temporary directory, removed afterwards.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_LOADS, expectedLoads } from '../test/chart/runtime-loads.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BUILDAH = onPath('buildah');
const IMAGE = 'localhost/portico-image-test';
const NODE_BASE = 'localhost/portico-image-test-node24';
const RUNTIME_BASE = 'localhost/portico-image-test-runtime';

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

let work = '';
const containers: string[] = [];

function buildah(args: string[], timeoutMs = 60_000): string {
  const storage = ['--root', path.join(work, 'storage'), '--runroot', path.join(work, 'run'), '--storage-driver', 'vfs'];
  const r = spawnSync(BUILDAH!, [...storage, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`buildah ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status}`}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

/** The shared libraries a binary links, as absolute paths (ldd). */
function libraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  return [...out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
}

function copyInto(root: string, file: string, as = file): void {
  fs.mkdirSync(path.join(root, path.dirname(as)), { recursive: true });
  fs.copyFileSync(fs.realpathSync(file), path.join(root, as));
  fs.chmodSync(path.join(root, as), fs.statSync(fs.realpathSync(file)).mode & 0o777);
}

/** The npm package this machine runs (for the Node image's `npm ci`). */
function npmPackageDir(): string {
  const npm = onPath('npm');
  if (npm === undefined) throw new Error('npm is not on PATH');
  for (let dir = path.dirname(fs.realpathSync(npm)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'npm') return dir;
  }
  throw new Error(`no npm package above ${npm}`);
}

/** A base image from a directory tree: buildah from scratch + copy + commit. */
function commitBase(root: string, name: string, env: Record<string, string>): void {
  const ctr = buildah(['from', 'scratch']).trim();
  buildah(['copy', '--quiet', ctr, root, '/']);
  buildah(['config', ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]), ctr]);
  buildah(['commit', '--quiet', '--rm', ctr, name], 120_000);
}

function assembleBases(): void {
  const node = process.execPath; // Node 24 under `npm test` (the node@24 devDependency)
  if (Number(process.versions.node.split('.')[0]) < 24) throw new Error(`the image needs Node 24; this test runs on ${process.version} (run it through npm test or npx vitest)`);
  const sh = fs.realpathSync('/bin/sh');
  const env = fs.realpathSync('/usr/bin/env'); // npm scripts' `#!/usr/bin/env node`
  const PATH = '/usr/local/bin:/usr/bin:/bin';

  // runtime base: what the node binary links, nothing else
  const runtime = path.join(work, 'runtime-root');
  for (const lib of libraries(node)) copyInto(runtime, lib);
  fs.mkdirSync(path.join(runtime, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(runtime, 'tmp'), 0o1777);
  commitBase(runtime, RUNTIME_BASE, { PATH });

  // Node image: node (at the official images' path), npm, sh, env, their libraries, CAs
  const nodeRoot = path.join(work, 'node-root');
  for (const lib of new Set([...libraries(node), ...libraries(sh), ...libraries(env)])) copyInto(nodeRoot, lib);
  copyInto(nodeRoot, node, '/usr/local/bin/node');
  copyInto(nodeRoot, sh, '/bin/sh');
  copyInto(nodeRoot, env, '/usr/bin/env');
  fs.cpSync(npmPackageDir(), path.join(nodeRoot, 'usr/local/lib/node_modules/npm'), { recursive: true });
  fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(nodeRoot, 'usr/local/bin/npm'));
  fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(nodeRoot, 'usr/local/bin/npx'));
  fs.mkdirSync(path.join(nodeRoot, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(nodeRoot, 'tmp'), 0o1777);
  const nodeEnv: Record<string, string> = { PATH, HOME: '/root', npm_config_cache: '/var/cache/npm' };
  // this machine's registry and CAs (a proxy's CA, if it has one) for the build's `npm ci`
  const registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
  fs.mkdirSync(path.join(nodeRoot, 'usr/local/etc'), { recursive: true });
  fs.writeFileSync(path.join(nodeRoot, 'usr/local/etc/npmrc'), `registry=${registry}\n`);
  const cas = process.env.NODE_EXTRA_CA_CERTS ?? '/etc/ssl/certs/ca-certificates.crt';
  if (fs.existsSync(cas)) {
    copyInto(nodeRoot, cas, '/etc/ssl/certs/extra-ca.pem');
    nodeEnv.NODE_EXTRA_CA_CERTS = '/etc/ssl/certs/extra-ca.pem';
  }
  commitBase(nodeRoot, NODE_BASE, nodeEnv);
}

interface ImageConfig {
  Entrypoint: string[];
  User: string;
  Env: string[];
  WorkingDir: string;
}

/** Runs a command in the image's container, as the image's user (10001). */
function run(ctr: string, argv: string[], timeoutMs = 30_000): string {
  return buildah(['run', '--isolation', 'chroot', '--user', '10001:10001', ctr, '--', ...argv], timeoutMs);
}

const SKIPPED = BUILDAH === undefined ? ' — skipped: buildah is not installed (npm test installs it on Debian/Ubuntu: scripts/ensure-test-deps.sh)' : '';

describe.skipIf(BUILDAH === undefined)(`container image (Dockerfile, built with buildah)${SKIPPED}`, () => {
  let config: ImageConfig;
  let ctr = '';

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-image-'));
    assembleBases();
    // the host's npm cache: `npm ci` in the build reads from it instead of the network
    const cache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
    buildah(['bud', '--quiet', '--isolation', 'chroot', '--layers=false', '--jobs', '2',
      '--build-arg', `NODE_IMAGE=${NODE_BASE}`, '--build-arg', `RUNTIME_IMAGE=${RUNTIME_BASE}`,
      '--volume', `${cache}:/var/cache/npm`,
      '-t', IMAGE, '-f', path.join(REPO, 'Dockerfile'), REPO], 300_000);
    const inspect = JSON.parse(buildah(['inspect', '--type', 'image', IMAGE])) as { OCIv1: { config: ImageConfig } };
    config = inspect.OCIv1.config;
    ctr = buildah(['from', '--quiet', IMAGE]).trim();
    containers.push(ctr);
  }, 360_000);

  afterAll(() => {
    if (work === '') return;
    for (const c of containers) {
      try {
        buildah(['rm', c]);
      } catch {
        // removed with the storage below
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('runs the program through its ENTRYPOINT as UID 10001', () => {
    expect(config.Entrypoint).toEqual(['/usr/local/bin/node', '/app/dist/cli.js']);
    expect(config.User).toBe('10001:10001');
    const out = run(ctr, [...config.Entrypoint, '--help']);
    expect(out).toMatch(/^Usage: portico \[flags\]/);
    expect(out).toContain('--https-port');
  });

  it('has the worker entry and package.json next to the program, and no npm, npx, corepack, yarn or type declarations', () => {
    const paths = [
      '/app/dist/workers/worker-main.js', // node:cluster forks it (src/workers/pool.ts)
      '/app/package.json', // "type": "module" for dist/
      '/usr/local/lib/node_modules',
      '/usr/local/bin/npm',
      '/usr/local/bin/npx',
      '/usr/local/bin/corepack',
      '/usr/local/bin/yarn',
      '/opt',
      '/app/node_modules/@kubernetes/client-node/dist/gen/apis',
      '/app/node_modules/@kubernetes/client-node/dist/index.d.ts',
      '/app/node_modules/.bin',
    ];
    const script = `console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(paths)}.map((p) => [p, require('node:fs').existsSync(p)]))))`;
    const exists = JSON.parse(run(ctr, ['/usr/local/bin/node', '-e', script])) as Record<string, boolean>;
    expect(exists).toEqual(Object.fromEntries(paths.map((p) => [p, p === '/app/dist/workers/worker-main.js' || p === '/app/package.json'])));
  });

  it('loads every dependency the program declares, every module of dist/, and client-node\'s KubeConfig (oidc, SOCKS)', () => {
    const script = fs.readFileSync(RUNTIME_LOADS, 'utf8');
    const out = JSON.parse(run(ctr, ['/usr/local/bin/node', '--input-type=module', '-e', script, '/app'])) as Record<string, unknown>;
    expect(out).toEqual(expectedLoads());
  });
});
