// The chart passes the program only flags it accepts, with values its own parser accepts:
// the rendered Deployment args are checked against FLAGS and run through parseSettings.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { FLAGS, parseSettings } from '../../src/config/settings.ts';
import { parseDuration } from '../../src/config/parsers.ts';
import { CHART, NAMESPACE, VALUE_SETS, controllerArgs, find, render, splitArgs } from './helm.ts';

const ACCEPTED = new Map(FLAGS.map((f) => [f.name, f]));
/** Flags of the program the chart never passes, and why. */
const NOT_FROM_THE_CHART: Record<string, string> = {
  help: 'prints usage and exits',
  version: 'prints the version and exits',
  manifests: 'file mode; the chart deploys Kubernetes mode',
  kubeconfig: 'the pod uses in-cluster credentials',
};
/**
 * Flags the chart does not offer yet: their values arrive with the issue that implements the
 * feature (metrics: a port, a Service port, a ServiceMonitor). Listed whether or not FLAGS has
 * them yet; remove an entry when the chart learns the flag.
 */
const NOT_YET_IN_THE_CHART: Record<string, string> = {
  'metrics-port': 'metrics are not implemented yet; controller.metrics values come with them',
};

interface Schema {
  properties: { controller: { properties: { extraArgs: { properties: Record<string, unknown>; additionalProperties: boolean }; config: { properties: Record<string, { pattern?: string }> } } } };
}
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Schema;

function podOf(objects: Awaited<ReturnType<typeof render>>) {
  const spec = find<IDeployment>(objects, 'Deployment').spec?.template.spec;
  if (!spec) throw new Error('no pod spec');
  return spec;
}

describe.concurrent('rendered container arguments', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(`${name}: only flags portico accepts, once each, and parseSettings accepts them`, async ({ expect }) => {
      const objects = await render(values);
      const args = controllerArgs(objects);
      const pairs = splitArgs(args);
      const seen = new Set<string>();
      for (const [flag, value] of pairs) {
        const spec = ACCEPTED.get(flag);
        expect(spec, `--${flag} is not a flag of portico (src/config/settings.ts FLAGS)`).toBeDefined();
        expect(NOT_FROM_THE_CHART[flag] ?? NOT_YET_IN_THE_CHART[flag], `--${flag} should not come from the chart`).toBeUndefined();
        if (spec?.type === 'string') expect(value, `--${flag} needs a value`).toBeDefined();
        if (spec?.choices && value !== undefined) expect(spec.choices).toContain(value);
        expect(seen.has(flag), `--${flag} twice`).toBe(false);
        seen.add(flag);
      }

      // The real parser, with an empty environment: the values themselves must validate.
      const parsed = parseSettings(args, {});
      expect(parsed.help).toBe(false);
      expect(parsed.version).toBe(false);
      expect(parsed.settings.manifests).toBeUndefined(); // Kubernetes mode

      // What the pod spec assumes matches what the program will do.
      const pod = podOf(objects);
      const ports = Object.fromEntries((pod.containers[0]?.ports ?? []).map((p) => [p.name, p.containerPort]));
      expect(ports).toEqual({ http: parsed.settings.httpPort, https: parsed.settings.httpsPort, health: parsed.settings.healthPort });
      expect(pod.terminationGracePeriodSeconds).toBe(Math.ceil(parsed.settings.shutdownGraceMs / 1000) + 15);
    });
  }
});

describe('settings the chart produces', () => {
  it('default values: Kubernetes mode, our class and controller, publish the chart Service, per-release Lease', async () => {
    const { settings } = parseSettings(controllerArgs(await render()), {});
    expect(settings).toMatchObject({
      watchNamespaces: [],
      controllerName: 'portico.dev/ingress-controller',
      ingressClass: 'portico',
      electionId: 'portico-leader',
      publishService: { namespace: NAMESPACE, name: 'portico' },
      publishStatusAddresses: [],
      httpPort: 8080,
      httpsPort: 8443,
      healthPort: 10254,
    });
  });

  it("default values: the chart's config defaults are the program's own defaults", async () => {
    const chart = parseSettings(controllerArgs(await render()), {}).settings;
    const program = parseSettings([], {}).settings;
    for (const key of ['bindAddress', 'logLevel', 'accessLog', 'trustedProxies', 'connectTimeoutMs', 'responseHeaderTimeoutMs', 'idleTimeoutMs', 'maxHeaderSize', 'shutdownGraceMs', 'httpPort', 'httpsPort', 'healthPort'] as const) {
      expect(chart[key], key).toEqual(program[key]);
    }
  });

  it('value sets reach the settings', async () => {
    const settingsOf = async (name: string) => parseSettings(controllerArgs(await render(VALUE_SETS[name]!)), {}).settings;
    expect((await settingsOf('watchNamespace (string)')).watchNamespaces).toEqual(['team-a', 'team-b']);
    expect((await settingsOf('watchNamespace (list, with the release namespace)')).watchNamespaces).toEqual(['team-a', 'portico']);
    expect((await settingsOf('externalTrafficPolicy Local')).trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.7']);
    expect((await settingsOf('publishService pathOverride')).publishService).toEqual({ namespace: 'edge', name: 'public-lb' });
    expect((await settingsOf('publishService disabled')).publishService).toBeUndefined();
    expect(await settingsOf('NodePort, single replica, tuned config')).toMatchObject({
      logLevel: 'warn',
      accessLog: false,
      connectTimeoutMs: 750,
      responseHeaderTimeoutMs: 30_000,
      idleTimeoutMs: 120_000,
      maxHeaderSize: 65536,
      shutdownGraceMs: 1500,
    });
    expect(await settingsOf('extraArgs')).toMatchObject({ publishStatusAddresses: ['203.0.113.10', 'lb.example.com'], bindAddress: '::', logLevel: 'debug', shutdownGraceMs: 120_000 });
  });
});

describe('values.schema.json follows FLAGS', () => {
  it('controller.extraArgs accepts exactly the flags of the program the chart may pass', () => {
    const extra = schema.properties.controller.properties.extraArgs;
    expect(extra.additionalProperties).toBe(false);
    const expected = FLAGS.map((f) => f.name).filter((n) => !(n in NOT_FROM_THE_CHART) && !(n in NOT_YET_IN_THE_CHART));
    expect(Object.keys(extra.properties).sort()).toEqual(expected.sort());
    for (const flag of Object.keys(NOT_FROM_THE_CHART)) expect(ACCEPTED.has(flag), `${flag} is no longer a flag`).toBe(true);
  });

  it('every duration the schema accepts, parseDuration accepts (same value in the chart)', () => {
    const pattern = new RegExp(schema.properties.controller.properties.config.properties.shutdownGrace?.pattern ?? '^$');
    for (const sample of ['500ms', '5s', '1.5m', '2h', '30', '0.25s', '90s']) {
      expect(pattern.test(sample), sample).toBe(true);
      expect(parseDuration(sample), sample).toBeDefined();
    }
    for (const sample of ['soon', '5 minutes', '-1s', '1d', '']) expect(pattern.test(sample), sample).toBe(false);
  });
});
