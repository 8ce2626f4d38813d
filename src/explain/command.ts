// `portico explain URL`: which Ingress rule serves a URL and why, what it does, which backend
// and endpoints, which certificate. Offline from a manifests directory (read as
// `portico --manifests` reads it) or a cluster (each kind listed once through the program's
// own watches), or from a running Portico started with --debug-endpoints (its /debug/explain:
// the configuration it serves right now). Exit status: 0 when a route serves the URL, 1 when
// none does (404), 2 for bad flags or a source that cannot be read.

import { parseArgs } from 'node:util';
import { envName, expandBareFlags, FLAGS, parseSettings, SettingsError, sourceFlagSpecs, sourceSettings, type FlagSpec } from '../config/settings.ts';
import type { GlobalErrorBackend } from '../model/error-backend-options.ts';
import { EndpointIndex } from '../endpoints/index.ts';
import type { RouteTable } from '../model/route-table.ts';
import { translate } from '../model/translate.ts';
import { silentLogger } from '../observe/log.ts';
import { ManifestDirectorySource } from '../sources/files/source.ts';
import { KubeApi } from '../sources/kubernetes/api.ts';
import { KubernetesSource } from '../sources/kubernetes/source.ts';
import { Store } from '../store/store.ts';
import { explain, renderExplanation, type Explanation } from './explain.ts';

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** For --from (tests may stub it). */
  fetch?: typeof fetch;
}

const TRANSLATION_FLAGS = ['enable-ssl-passthrough', 'default-backend-service', 'custom-http-errors'] as const;

const OWN: readonly FlagSpec[] = [
  { name: 'header', type: 'string', default: '', help: 'A request header "Name: value" (repeat for more), e.g. for canary rules or Host' },
  { name: 'method', type: 'string', default: 'GET', help: 'The request method, for rules that match on it (Gateway API method matches)' },
  { name: 'from', type: 'string', default: '', help: 'Ask a running Portico (its health port, started with --debug-endpoints), e.g. http://127.0.0.1:10254' },
  { name: 'output', type: 'string', default: 'text', choices: ['text', 'json'], help: 'text: for people; json: the whole explanation' },
  { name: 'help', type: 'boolean', help: 'Show this help and exit' },
  // translation depends on these (ssl-passthrough hosts, the default route and error pages):
  // the program's own flags
  ...TRANSLATION_FLAGS.map((name) => FLAGS.find((f) => f.name === name)!),
];

export function explainUsage(): string {
  const lines = [
    'Usage: portico explain URL [--method M] [--header "Name: value" ...] [--manifests DIR | --kubeconfig FILE | --from http://HOST:PORT]',
    '',
    'Shows which Ingress rule serves URL and why it won over the other rules of its host, what',
    'Portico does with the request (forward, redirect, answer), the filters that run, the backend',
    'and its endpoints, and the certificate SNI would choose.',
    '',
    'Flags:',
  ];
  for (const f of [...sourceFlagSpecs(), ...OWN]) lines.push(`  --${f.name.padEnd(30)} ${f.help}`);
  lines.push('', 'Exit status: 0 a route serves the URL; 1 none does (404) or it is refused; 2 bad flags or unreadable source.', '');
  return lines.join('\n');
}

interface ExplainArgs {
  url: string;
  headers: [string, string][];
  method: string;
  from: string;
  output: 'text' | 'json';
  manifests: string | undefined;
  kubeconfig: string | undefined;
  watchNamespaces: string[];
  controllerName: string;
  ingressClass: string;
  watchWithoutClass: boolean;
  sslPassthrough: boolean;
  /** --default-backend-service (+ --custom-http-errors), as the program translates with them. */
  globalErrors: GlobalErrorBackend | undefined;
}

function parse(argv: readonly string[], env: NodeJS.ProcessEnv): { help: true } | { help: false; args: ExplainArgs } {
  const specs = [...sourceFlagSpecs(), ...OWN];
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const f of specs) options[f.name] = { type: f.type };
  options.header = { type: 'string', multiple: true, short: 'H' };
  options.help = { type: 'boolean', short: 'h' };
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: expandBareFlags(argv, specs), options, strict: true, allowPositionals: true }));
  } catch (err) {
    throw new SettingsError(`${(err as Error).message}. Run portico explain --help to list the flags.`);
  }
  if (values.help === true) return { help: true };
  if (positionals.length !== 1) throw new SettingsError(`give exactly one URL (got ${positionals.length}), e.g. portico explain https://shop.example.com/cart --manifests ./k8s`);
  const headers: [string, string][] = [];
  for (const h of (values.header as string[] | undefined) ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new SettingsError(`--header: "${h}" is not "Name: value"`);
    headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
  }
  const method = typeof values.method === 'string' && values.method !== '' ? values.method.toUpperCase() : 'GET';
  if (!/^[!#$%&'*+.^_`|~0-9A-Z-]+$/.test(method)) throw new SettingsError(`--method: "${method}" is not an HTTP method`);
  const output = typeof values.output === 'string' ? values.output : 'text';
  if (output !== 'text' && output !== 'json') throw new SettingsError(`--output: "${output}" is not one of text, json`);
  const from = typeof values.from === 'string' ? values.from : '';
  if (from !== '' && !/^https?:\/\/[^/]+\/?$/.test(from)) throw new SettingsError(`--from: "${from}" is not http://HOST:PORT`);
  const settings = sourceSettings(values, env);
  // the translation flags through the program's own parser (same checks, same environment variables)
  const forwarded: string[] = [];
  const translationEnv: NodeJS.ProcessEnv = {};
  for (const name of TRANSLATION_FLAGS) {
    const v = values[name];
    if (typeof v === 'string') forwarded.push(`--${name}=${v}`);
    if (env[envName(name)] !== undefined) translationEnv[envName(name)] = env[envName(name)];
  }
  const translation = parseSettings(forwarded, translationEnv).settings;
  const sources = [settings.manifests !== undefined, typeof values.kubeconfig === 'string', from !== ''].filter(Boolean).length;
  if (sources > 1) throw new SettingsError('--manifests, --kubeconfig and --from: give one source');
  return {
    help: false,
    args: {
      url: positionals[0]!,
      headers,
      method,
      from,
      output,
      manifests: settings.manifests,
      kubeconfig: settings.kubeconfig,
      watchNamespaces: settings.watchNamespaces,
      controllerName: settings.controllerName,
      ingressClass: settings.ingressClass,
      watchWithoutClass: settings.watchIngressWithoutClass,
      sslPassthrough: translation.sslPassthrough,
      globalErrors: translation.defaultBackendService === undefined ? undefined : { service: translation.defaultBackendService, codes: translation.customHttpErrors },
    },
  };
}

/** The objects of the source, read once, in a Store. */
async function load(args: ExplainArgs): Promise<Store> {
  const store = new Store();
  if (args.manifests !== undefined) {
    const source = new ManifestDirectorySource({ dir: args.manifests, store, log: silentLogger, watch: false });
    await source.start();
    await source.stop();
    return store;
  }
  const source = new KubernetesSource({ api: KubeApi.load(args.kubeconfig), store, log: silentLogger, namespaces: args.watchNamespaces });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the cluster did not answer every list within 30 s')), 30_000).unref());
  try {
    await Promise.race([source.start(), timeout]);
  } finally {
    await source.stop();
  }
  return store;
}

/** Runs the command; resolves to the exit status. */
export async function explainCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv, io.env);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    io.stderr(`portico explain: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout(explainUsage());
    return 0;
  }
  const { args } = parsed;
  let result: Explanation;
  try {
    if (args.from !== '') {
      const q = new URLSearchParams({ url: args.url });
      for (const [k, v] of args.headers) q.append('header', `${k}: ${v}`);
      if (args.method !== 'GET') q.set('method', args.method);
      const res = await (io.fetch ?? fetch)(`${args.from.replace(/\/$/, '')}/debug/explain?${q.toString()}`);
      const body = await res.text();
      if (res.status === 404) throw new Error(`${args.from} has no /debug/explain: start Portico with --debug-endpoints`);
      if (res.status !== 200) throw new Error(`${args.from}/debug/explain answered ${res.status}: ${body.trim()}`);
      result = JSON.parse(body) as Explanation;
    } else {
      const store = await load(args);
      const config = translate(store, {
        controllerName: args.controllerName,
        ingressClass: args.ingressClass,
        watchWithoutClass: args.watchWithoutClass,
        sslPassthrough: args.sslPassthrough,
        ...(args.globalErrors !== undefined ? { globalErrors: args.globalErrors } : {}),
      }) as RouteTable;
      result = explain(config, new EndpointIndex(store), { url: args.url, headers: args.headers, method: args.method });
    }
  } catch (err) {
    io.stderr(`portico explain: ${(err as Error).message}\n`);
    return 2;
  }
  io.stdout(args.output === 'json' ? JSON.stringify(result, null, 2) + '\n' : renderExplanation(result));
  return result.route === null || result.refused !== undefined ? 1 : 0;
}
