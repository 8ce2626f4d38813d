// `portico migrate-check`: flags → read the objects once → report → exit status.

import { SettingsError } from '../config/settings.ts';
import { migrateCheckUsage, parseMigrateCheckArgs } from './args.ts';
import { loadCluster, loadManifests, LoadError } from './load.ts';
import { renderJson, renderTable } from './render.ts';
import { buildReport } from './report.ts';

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** Runs the check; resolves to the exit status (see migrateCheckUsage). */
export async function migrateCheck(argv: readonly string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseMigrateCheckArgs(argv, io.env);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    io.stderr(`portico migrate-check: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout(migrateCheckUsage());
    return 0;
  }
  const { args } = parsed;
  let loaded;
  try {
    loaded = args.manifests !== undefined ? await loadManifests(args.manifests) : await loadCluster(args.kubeconfig, args.watchNamespaces);
  } catch (err) {
    if (!(err instanceof LoadError)) throw err;
    io.stderr(`portico migrate-check: ${err.message}\n`);
    return 2;
  }
  const report = buildReport({
    source: loaded.source,
    ingresses: loaded.ingresses,
    classes: loaded.classes,
    options: { controllerName: args.controllerName, ingressClass: args.ingressClass, watchWithoutClass: args.watchIngressWithoutClass },
    problems: loaded.problems,
    sslPassthrough: args.sslPassthrough,
    ...(loaded.objects === undefined ? {} : { objects: loaded.objects }),
  });
  io.stdout(args.output === 'json' ? renderJson(report) : renderTable(report));
  return report.exitCode;
}
