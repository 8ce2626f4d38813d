// Trims a production install (`npm ci --omit=dev`) down to what the program can load, for the
// runtime image (Dockerfile, stage `deps`): node scripts/prune-runtime-deps.mjs /app
// /app holds node_modules/ and the compiled dist/. Plain JavaScript: it runs before any build.
//
// 1. Type declarations and source maps: nothing reads them at run time (half the bytes).
// 2. @kubernetes/client-node: dist/ imports a few of its small modules by path (see
//    src/sources/kubernetes/kubeconfig.ts) and, for the rare oidc / SOCKS setups, the package
//    itself for its KubeConfig. Its index and gen/index.js re-export ~1,000 generated API and
//    model modules (25 MB of JavaScript) that KubeConfig never calls. Here the index exports
//    KubeConfig only (config.js) and gen/index.js only what config.js imports from it; then
//    every module of the package that nothing reaches from those and from dist/'s own imports
//    is removed. ES modules link strictly: a name this removes that a kept module imports
//    fails `import('@kubernetes/client-node')` at once (the image test does that import).
//    The rewrite is tied to the pinned version: another version stops the image build here.
// 3. Packages nothing kept can reach: the package.json dependency closure of our own
//    dependencies, except that client-node's are what its kept modules import (ws, tar-fs and
//    its bare-* family, stream-buffers, ... serve its exec / attach / cp, never loaded).
// It prints the bytes before and after.

import fs from 'node:fs';
import path from 'node:path';

const CLIENT_NODE = '@kubernetes/client-node';
const CLIENT_NODE_VERSION = '2.0.1';

const app = path.resolve(process.argv[2] ?? '.');
const nodeModules = path.join(app, 'node_modules');
const dist = path.join(app, 'dist');
if (!fs.existsSync(nodeModules) || !fs.existsSync(dist)) fail(`${app} needs node_modules/ and dist/`);

function fail(message) {
  process.stderr.write(`prune-runtime-deps: ${message}\n`);
  process.exit(1);
}

function* walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else yield p;
  }
}

function bytes(dir) {
  let n = 0;
  for (const f of walk(dir)) n += fs.lstatSync(f).size;
  return n;
}

function removeEmptyDirs(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeEmptyDirs(path.join(dir, entry.name));
  }
  if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
}

// Module specifiers in compiled JavaScript: static imports and re-exports, side-effect imports,
// import('x') with a literal, require('x') and require.resolve('x'). A regex over the text keeps
// a few too many (one inside a string or comment) and never too few for these forms.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire(?:\.resolve)?\s*\(\s*)(['"])([^'"\n]+)\1/g;
function specifiers(file) {
  return [...fs.readFileSync(file, 'utf8').matchAll(SPECIFIER)].map((m) => m[2]);
}

/** '@scope/name/sub/path.js' -> '@scope/name'; 'name/x' -> 'name'; builtins and relatives -> undefined */
function packageName(spec) {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || spec.startsWith('#')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const before = bytes(nodeModules);

// ---- 1. declarations, source maps, @types ----------------------------------------------------
const TYPES_ONLY = /(\.d\.[cm]?ts|\.d\.[cm]?ts\.map|\.[cm]?js\.map)$/;
for (const f of walk(nodeModules)) if (TYPES_ONLY.test(f)) fs.rmSync(f);
const dropTypesPackages = (dir) => {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const p = path.join(dir, entry.name);
    if (entry.name === '@types' && path.basename(dir) === 'node_modules') fs.rmSync(p, { recursive: true });
    else dropTypesPackages(p);
  }
};
dropTypesPackages(nodeModules);
// npm's links to package binaries: the program runs none of them.
fs.rmSync(path.join(nodeModules, '.bin'), { recursive: true, force: true });

// ---- 2. @kubernetes/client-node: KubeConfig and the modules dist/ imports by path ---------------
const distFiles = [...walk(dist)].filter((f) => /\.[cm]?js$/.test(f));
const distSpecs = distFiles.flatMap(specifiers);

const clientNode = path.join(nodeModules, CLIENT_NODE);
const clientNodeVersion = JSON.parse(fs.readFileSync(path.join(clientNode, 'package.json'), 'utf8')).version;
if (clientNodeVersion !== CLIENT_NODE_VERSION) {
  fail(`${CLIENT_NODE} is ${clientNodeVersion}, this script knows ${CLIENT_NODE_VERSION}: check what its dist/index.js, ` +
    'dist/config.js and dist/gen/index.js import, update the rewrites below, then CLIENT_NODE_VERSION');
}
// index.js: polyfill.js (File on old Nodes) as the original, then KubeConfig and its helpers.
fs.writeFileSync(path.join(clientNode, 'dist/index.js'), "import './polyfill.js';\nexport * from './config.js';\n");
// gen/index.js: what config.js and the http layer take from it (createConfiguration,
// ServerConfiguration, RequestContext, ...), without models/all.js, apis/ and types/.
fs.writeFileSync(path.join(clientNode, 'dist/gen/index.js'), [
  "export * from './http/http.js';",
  "export * from './auth/auth.js';",
  "export { createConfiguration } from './configuration.js';",
  "export * from './servers.js';",
  "export { Observable } from './rxjsStub.js';",
  '',
].join('\n'));

const roots = [path.join(clientNode, 'dist/index.js')];
for (const spec of distSpecs) {
  if (spec.startsWith(`${CLIENT_NODE}/`)) roots.push(path.join(nodeModules, spec));
}
const keep = new Set();
const bareFromClientNode = new Set();
for (const todo = [...roots]; todo.length > 0;) {
  const file = todo.pop();
  if (keep.has(file)) continue;
  if (!fs.existsSync(file)) fail(`${path.relative(app, file)} is imported but missing`);
  keep.add(file);
  if (!file.endsWith('.js')) continue;
  for (const spec of specifiers(file)) {
    if (spec.startsWith('.')) todo.push(path.resolve(path.dirname(file), spec));
    else if (packageName(spec)) bareFromClientNode.add(packageName(spec));
  }
}
for (const f of walk(path.join(clientNode, 'dist'))) if (!keep.has(f)) fs.rmSync(f);
removeEmptyDirs(path.join(clientNode, 'dist'));

// ---- 3. packages nothing kept reaches ----------------------------------------------------------
function manifest(dir) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
}
/** Where Node would find package `name` from inside `fromDir` (a package dir), or undefined. */
function locate(name, fromDir) {
  for (let dir = fromDir; dir.startsWith(app); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === app) break;
  }
  return undefined;
}
const reached = new Set(); // package directories
const pending = [];
const want = (name, fromDir) => {
  const dir = locate(name, fromDir);
  if (dir && !reached.has(dir)) { reached.add(dir); pending.push(dir); }
};
// Roots: every declared dependency (dist/ loads some through createRequire or lazily, which a
// scan can miss) and whatever dist/ imports.
for (const name of Object.keys(manifest(app).dependencies ?? {})) want(name, app);
for (const spec of distSpecs) if (packageName(spec)) want(packageName(spec), app);
while (pending.length > 0) {
  const dir = pending.pop();
  const deps = dir === clientNode
    ? [...bareFromClientNode]
    : Object.keys({ ...manifest(dir).dependencies, ...manifest(dir).optionalDependencies, ...manifest(dir).peerDependencies });
  for (const name of deps) want(name, dir);
}
/** Package directories directly under a node_modules directory (scopes expanded). */
function packagesIn(modulesDir) {
  if (!fs.existsSync(modulesDir)) return [];
  return fs.readdirSync(modulesDir).filter((n) => !n.startsWith('.')).flatMap((n) => n.startsWith('@')
    ? fs.readdirSync(path.join(modulesDir, n)).map((m) => path.join(modulesDir, n, m))
    : [path.join(modulesDir, n)]);
}
const removed = [];
const sweep = (modulesDir) => {
  for (const dir of packagesIn(modulesDir)) {
    if (reached.has(dir)) sweep(path.join(dir, 'node_modules'));
    else { fs.rmSync(dir, { recursive: true, force: true }); removed.push(path.relative(nodeModules, dir)); }
  }
};
sweep(nodeModules);
fs.rmSync(path.join(nodeModules, '.package-lock.json'), { force: true }); // lists what was removed
removeEmptyDirs(nodeModules);

const after = bytes(nodeModules);
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
process.stdout.write(`prune-runtime-deps: node_modules ${mb(before)} -> ${mb(after)}; ` +
  `${CLIENT_NODE} keeps ${keep.size} files; removed packages: ${removed.sort().join(', ') || 'none'}\n`);
