// Loads what the program may load from a production install trimmed by
// scripts/prune-runtime-deps.mjs: `node runtime-loads.mjs APP` (APP holds package.json, dist/,
// node_modules/), or its text through `node --input-type=module -e TEXT APP` (in the image).
// Prints one JSON line; the tests compare it with what the repository says it should be.
// - every declared dependency, through its entry point
// - every module of dist/ but the three that start a program when imported: every static import
//   of the trimmed node_modules must resolve and link
// - client-node's full KubeConfig, the fallback of src/sources/kubernetes/kubeconfig.ts for the
//   oidc auth-provider and SOCKS proxies, on the trimmed package
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const app = path.resolve(process.argv.at(-1));
const pkg = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8'));
const require = createRequire(path.join(app, 'dist', 'cli.js'));
const load = (file) => import(pathToFileURL(file).href);

for (const name of Object.keys(pkg.dependencies)) await load(require.resolve(name));

const entries = new Set(['cli.js', 'demo.js', path.join('workers', 'worker-main.js')]);
const modules = fs.readdirSync(path.join(app, 'dist'), { recursive: true }).filter((f) => f.endsWith('.js') && !entries.has(f));
for (const f of modules) await load(path.join(app, 'dist', f));

const { KubeConfig } = await load(require.resolve('@kubernetes/client-node'));
const { RequestContext } = await load(require.resolve('@kubernetes/client-node/dist/gen/http/http.js'));
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const idToken = [b64({ alg: 'none' }), b64({ exp: 4102444800 }), 'sig'].join('.'); // expires in 2100
const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', proxyUrl: 'socks5://127.0.0.1:1080' }],
  users: [{ name: 'u', authProvider: { name: 'oidc', config: { 'id-token': idToken, 'client-id': 'portico', 'idp-issuer-url': 'https://127.0.0.1:1' } } }],
  contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
  currentContext: 'x',
});
const ctx = new RequestContext('https://127.0.0.1:6443/api', 'GET');
await kc.applySecurityAuthentication(ctx); // no connection is made

console.log(JSON.stringify({
  dependencies: Object.keys(pkg.dependencies).length,
  modules: modules.length,
  oidcBearer: ctx.getHeaders().Authorization === `Bearer ${idToken}`,
  socksDispatcher: ctx.getDispatcher() !== undefined,
}));
