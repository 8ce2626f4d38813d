// `portico migrate-check` flags. The ones it shares with the main program (where to read, and
// the class selection) are the main program's own: same names, help, defaults, environment
// variables and validation (config/settings.ts parses them), so a check run with the flags of
// a deployment judges exactly what that deployment would serve.

import { parseArgs } from 'node:util';
import { envName, expandBareFlags, FLAGS, SettingsError, sourceFlagSpecs, sourceSettings, type FlagSpec } from '../config/settings.ts';

export type OutputFormat = 'table' | 'json';

export interface MigrateCheckArgs {
  manifests: string | undefined;
  kubeconfig: string | undefined;
  watchNamespaces: string[];
  controllerName: string;
  ingressClass: string;
  watchIngressWithoutClass: boolean;
  /** --enable-ssl-passthrough: whether the deployment serves ssl-passthrough (judged accordingly). */
  sslPassthrough: boolean;
  output: OutputFormat;
}

export type ParsedMigrateCheck = { help: true } | { help: false; args: MigrateCheckArgs };

const OWN: readonly FlagSpec[] = [
  // the deployment's own flag (same name, default and environment variable), read here alone
  FLAGS.find((f) => f.name === 'enable-ssl-passthrough')!,
  { name: 'output', type: 'string', default: 'table', choices: ['table', 'json'], help: 'table: for people; json: the whole report for programs' },
  { name: 'help', type: 'boolean', help: 'Show this help and exit' },
];

/** Parses argv (after `migrate-check`) and the environment; throws SettingsError on bad input. */
export function parseMigrateCheckArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedMigrateCheck {
  const specs = [...sourceFlagSpecs(), ...OWN];
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const f of specs) options[f.name] = { type: f.type };
  options.help = { type: 'boolean', short: 'h' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: expandBareFlags(argv, specs), options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new SettingsError(`${(err as Error).message}. Run portico migrate-check --help to list the flags.`);
  }
  if (values.help === true) return { help: true };

  const output = typeof values.output === 'string' ? values.output : 'table';
  if (output !== 'table' && output !== 'json') throw new SettingsError(`--output: "${output}" is not one of table, json`);

  // the shared flags go through the main program's parser (config/settings.ts)
  const settings = sourceSettings(values, env);
  if (settings.manifests !== undefined && typeof values.kubeconfig === 'string') {
    throw new SettingsError('--manifests and --kubeconfig: give one source, a manifests directory or a cluster');
  }
  return {
    help: false,
    args: {
      manifests: settings.manifests,
      kubeconfig: settings.kubeconfig,
      watchNamespaces: settings.watchNamespaces,
      controllerName: settings.controllerName,
      ingressClass: settings.ingressClass,
      watchIngressWithoutClass: settings.watchIngressWithoutClass,
      sslPassthrough: passthroughFlag(values['enable-ssl-passthrough'], env),
      output,
    },
  };
}

/** --enable-ssl-passthrough from the command line, else its environment variable, else false. */
function passthroughFlag(value: string | boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  const raw = typeof value === 'string' ? value : (env[envName('enable-ssl-passthrough')] ?? 'false');
  if (raw !== 'true' && raw !== 'false') throw new SettingsError(`--enable-ssl-passthrough: "${raw}" is not one of true, false`);
  return raw === 'true';
}

export function migrateCheckUsage(): string {
  const lines = [
    'Usage: portico migrate-check [--manifests DIR | --kubeconfig FILE] [flags]',
    '',
    'Lists every Ingress with each of its nginx.ingress.kubernetes.io/* and portico.dev/* annotations',
    'classified: supported, supported with differences, unsupported, fails closed (the Ingress answers',
    '503), or unknown; says whether Portico, run with the same class flags, would serve the Ingress;',
    'and counts each annotation and each class on the Ingresses it would serve. Reads once, never',
    'writes. Without --manifests: the cluster of --kubeconfig, $KUBECONFIG, ~/.kube/config, or the',
    "pod's service account, like the main program.",
    '',
    'Flags (the main program\'s, with the same environment variables, unless marked):',
  ];
  for (const f of [...sourceFlagSpecs(), ...OWN]) {
    const value = f.choices ? f.choices.join('|') : 'VALUE';
    const arg = f.type === 'string' ? (f.bare !== undefined ? `[=${value}]` : ` ${value}`) : '';
    const def = f.default !== undefined && f.default !== '' ? ` (default ${f.default})` : '';
    const own = OWN.includes(f) && f.name !== 'enable-ssl-passthrough' ? '  [migrate-check only]' : `  [${envName(f.name)}]`;
    lines.push(`  --${f.name}${arg}`);
    lines.push(`      ${f.help}${def}${own}`);
  }
  lines.push(
    '',
    'Exit status:',
    '  0  every annotation on the Ingresses Portico would serve is supported (possibly with differences),',
    '     or it would serve none',
    '  1  an Ingress Portico would serve has an unsupported, failing-closed or unknown annotation, or a',
    '     manifest file or object could not be read',
    '  2  bad flags, or the manifests directory or the cluster could not be read at all',
  );
  return lines.join('\n') + '\n';
}
