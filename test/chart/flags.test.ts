// The chart passes the program only flags it accepts, with values its own parser accepts:
// the rendered Deployment args are checked against FLAGS and run through parseSettings.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { load } from 'js-yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { FLAGS, parseSettings } from '../../src/config/settings.ts';
import { parseDuration } from '../../src/values/duration.ts';
import { CHART, NAMESPACE, VALUE_SETS, controllerArgs, mountedFiles, render, splitArgs, workload } from './helm.ts';

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
 * feature. Listed whether or not FLAGS has them yet; remove an entry when the chart learns the flag.
 */
const NOT_YET_IN_THE_CHART: Record<string, string> = {};
/**
 * Flags the chart renders only from their own values, never from controller.extraArgs: other
 * objects follow them (RBAC, a volume, container and Service ports), which extraArgs would bypass.
 */
const ONLY_FROM_VALUES: Record<string, string> = {
  acme: 'acme.enabled: the RBAC for certificate and ACME Secrets follows it',
  'acme-ca-bundle': 'acme.caBundle: the chart mounts the Secret the path points into',
  'metrics-port': 'controller.metrics.port: the container port, the metrics Service and the NetworkPolicy follow it',
  'backend-ca-file': 'controller.backendCA: the chart mounts the Secret or ConfigMap key the path points to',
};

interface Schema {
  properties: { controller: { properties: { extraArgs: { properties: Record<string, unknown>; additionalProperties: boolean }; config: { properties: Record<string, { pattern?: string }> } } } };
}
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Schema;

function podOf(objects: Awaited<ReturnType<typeof render>>) {
  const spec = workload<IDeployment>(objects).spec?.template.spec;
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

      // The real parser, with an empty environment: the values themselves must validate; the
      // only file it reads (--backend-ca-file) must be a key the pod mounts.
      const pod = podOf(objects);
      const parsed = parseSettings(args, {}, mountedFiles(objects));
      expect(parsed.help).toBe(false);
      expect(parsed.version).toBe(false);
      expect(parsed.settings.manifests).toBeUndefined(); // Kubernetes mode

      // What the pod spec assumes matches what the program will do.
      const container = pod.containers[0]!;
      const ports = Object.fromEntries((container.ports ?? []).map((p) => [p.name, p.containerPort]));
      const { settings } = parsed;
      expect(ports).toEqual({
        http: settings.httpPort,
        https: settings.httpsPort,
        health: settings.healthPort,
        ...(settings.metricsPort !== undefined ? { metrics: settings.metricsPort } : {}),
      });
      // SIGTERM: the delay (still accepting), then the grace for in-flight requests; the kubelet
      // must not SIGKILL before both are over.
      const ownGrace = (values as { controller?: { terminationGracePeriodSeconds?: number } }).controller?.terminationGracePeriodSeconds;
      expect(pod.terminationGracePeriodSeconds).toBe(ownGrace ?? Math.ceil(settings.shutdownDelayMs / 1000) + Math.ceil(settings.shutdownGraceMs / 1000) + 10);
      expect((pod.terminationGracePeriodSeconds ?? 0) * 1000).toBeGreaterThan(settings.shutdownDelayMs + settings.shutdownGraceMs);

      // --acme-ca-bundle points at a key of a Secret mounted read-only in the container.
      if (settings.acmeCaBundle !== undefined) {
        const mount = (container.volumeMounts ?? []).find((m) => m.mountPath === dirname(settings.acmeCaBundle!));
        expect(mount, `no volume mounted at ${dirname(settings.acmeCaBundle)}`).toBeDefined();
        expect(mount?.readOnly).toBe(true);
        const volume = (pod.volumes ?? []).find((v) => v.name === mount?.name);
        expect(volume?.secret?.items?.map((i) => i.path)).toContain(settings.acmeCaBundle.slice(dirname(settings.acmeCaBundle).length + 1));
      }
      for (const flag of Object.keys(ONLY_FROM_VALUES)) expect(ACCEPTED.has(flag), `${flag} is no longer a flag`).toBe(true);
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
    for (const key of [
      'bindAddress', 'logLevel', 'accessLog', 'trustedProxies', 'connectTimeoutMs', 'responseHeaderTimeoutMs', 'idleTimeoutMs', 'sendTimeoutMs', 'maxHeaderSize', 'bodyLimit', 'httpRedirectCode', 'sslRedirect', 'forceSslRedirect', 'limitReqStatusCode', 'limitConnStatusCode',
      'shutdownDelayMs', 'shutdownGraceMs', 'httpPort', 'httpsPort', 'healthPort', 'metricsPort', 'http2', 'hsts', 'hstsMaxAge', 'hstsIncludeSubdomains',
      'defaultSslCertificate', 'acme', 'acmeEmail', 'acmeCaBundle', 'requestMetrics', 'responseRequestId', 'watchIngressWithoutClass', 'updateStatus',
      'defaultBackendService', 'customHttpErrors', 'clientBodyTimeoutMs', 'clientBodyDeadlineMs', 'clientBodyBufferSize', 'upstreamQueueTimeoutMs', 'maxConnectionsPerEndpoint', 'allowTrace', 'debugEndpoints', 'otlpEndpoint', 'traceSampleRatio', 'otlpServiceName',
    ] as const) {
      expect(chart[key], key).toEqual(program[key]);
    }
  });

  it("values.yaml's acme.directory is the program's --acme-directory default (Let's Encrypt production)", async () => {
    const values = load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { acme: { directory: string } };
    expect(values.acme.directory).toBe(FLAGS.find((f) => f.name === 'acme-directory')?.default);
    const { settings } = parseSettings(controllerArgs(await render({ acme: { enabled: true } })), {});
    expect(settings.acmeDirectory).toBe(parseSettings([], {}).settings.acmeDirectory);
  });

  it('value sets reach the settings', async () => {
    const settingsOf = async (name: string) => parseSettings(controllerArgs(await render(VALUE_SETS[name]!)), {}).settings;
    expect((await settingsOf('watchNamespace (string)')).watchNamespaces).toEqual(['team-a', 'team-b']);
    expect((await settingsOf('watchNamespace (list, with the release namespace)')).watchNamespaces).toEqual(['team-a', 'portico']);
    expect((await settingsOf('externalTrafficPolicy Local')).trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.7']);
    expect((await settingsOf('publishService pathOverride')).publishService).toEqual({ namespace: 'edge', name: 'public-lb' });
    expect((await settingsOf('publishService disabled')).publishService).toBeUndefined();
    expect((await settingsOf('ingress-nginx ConfigMap')).nginxConfigMap).toEqual({ namespace: 'ingress-nginx', name: 'ingress-nginx-controller' });
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
    expect(await settingsOf('ACME, default certificate, TLS and drain settings')).toMatchObject({
      acme: true,
      acmeEmail: 'ops@example.com',
      acmeDirectory: 'https://pebble.pebble.svc:14000/dir',
      acmeCaBundle: '/etc/portico/acme-ca/root.pem',
      defaultSslCertificate: 'portico/wildcard-tls',
      http2: false,
      hsts: false,
      hstsMaxAge: 600,
      hstsIncludeSubdomains: false,
      shutdownDelayMs: 15_000,
      shutdownGraceMs: 45_000,
      metricsPort: undefined,
    });
    expect(await settingsOf('ACME with watchNamespace (release namespace not watched)')).toMatchObject({
      acme: true,
      acmeEmail: undefined,
      acmeCaBundle: undefined,
      watchNamespaces: ['team-a', 'team-b'],
      defaultSslCertificate: 'team-b/fallback-tls',
    });
    expect((await settingsOf('metrics: own port, ServiceMonitor, dashboard, NetworkPolicy')).metricsPort).toBe(9113);
    expect(await settingsOf('metrics disabled, dashboard on')).toMatchObject({ metricsPort: undefined, requestMetrics: false });
    expect(await settingsOf('side by side with ingress-nginx (its class, class-less Ingresses, no status)')).toMatchObject({
      controllerName: 'k8s.io/ingress-nginx',
      ingressClass: 'nginx',
      watchIngressWithoutClass: true,
      updateStatus: false,
    });
    expect((await settingsOf('workers: a number, CPU limit to match')).workers).toBe(3);
    // the chart's defaults set no CPU limit, so one process (the program alone would use auto)
    expect((await settingsOf('defaults')).workers).toBe(0);
  });

  it('ACME off renders no --acme* flag at all', async () => {
    for (const name of Object.keys(VALUE_SETS).filter((n) => !n.startsWith('ACME'))) {
      expect(controllerArgs(await render(VALUE_SETS[name]!)).filter((a) => a.startsWith('--acme')), name).toEqual([]);
    }
  });
});

describe('values.schema.json follows FLAGS', () => {
  it('controller.extraArgs accepts exactly the flags of the program the chart may pass', () => {
    const extra = schema.properties.controller.properties.extraArgs;
    expect(extra.additionalProperties).toBe(false);
    const expected = FLAGS.map((f) => f.name).filter((n) => !(n in NOT_FROM_THE_CHART) && !(n in NOT_YET_IN_THE_CHART) && !(n in ONLY_FROM_VALUES));
    expect(Object.keys(extra.properties).sort()).toEqual(expected.sort());
    for (const flag of Object.keys(NOT_FROM_THE_CHART)) expect(ACCEPTED.has(flag), `${flag} is no longer a flag`).toBe(true);
  });

  it('NOT_YET_IN_THE_CHART is empty: the chart offers every flag it may pass', () => {
    expect(NOT_YET_IN_THE_CHART).toEqual({});
  });

  it('every duration the schema accepts, parseDuration accepts (same value in the chart)', () => {
    const durations = schema.properties.controller.properties.config.properties;
    for (const key of ['connectTimeout', 'responseHeaderTimeout', 'idleTimeout', 'shutdownDelay']) {
      expect(durations[key]?.pattern, key).toBe(durations.shutdownGrace?.pattern);
    }
    const pattern = new RegExp(durations.shutdownGrace?.pattern ?? '^$');
    for (const sample of ['500ms', '5s', '1.5m', '2h', '30', '0.25s', '90s']) {
      expect(pattern.test(sample), sample).toBe(true);
      expect(parseDuration(sample), sample).toBeDefined();
    }
    for (const sample of ['soon', '5 minutes', '-1s', '1d', '']) expect(pattern.test(sample), sample).toBe(false);
  });
});

describe('values.schema.json agrees with the parser on the new values', () => {
  const top = (schema as unknown as { properties: Record<string, { pattern?: string; properties?: Record<string, { pattern?: string }> }> }).properties;
  const parses = (args: string[]) => {
    try {
      parseSettings(args, {});
      return true;
    } catch {
      return false;
    }
  };

  it('defaultCertificate: the schema accepts exactly what --default-ssl-certificate accepts', () => {
    const pattern = new RegExp(top.defaultCertificate?.pattern ?? '^$');
    for (const sample of ['portico/wildcard-tls', 'a/b', 'team-a/tls.example.com', '', 'Portico/x', 'wildcard', 'a/b/c', '/x', 'a/-x', 'a_b/c']) {
      expect(pattern.test(sample), sample).toBe(parses([`--default-ssl-certificate=${sample}`]));
    }
  });

  it('acme.directory: https URLs only, each of which --acme-directory accepts', () => {
    const pattern = new RegExp(top.acme?.properties?.directory?.pattern ?? '^$');
    for (const sample of ['https://acme-v02.api.letsencrypt.org/directory', 'https://pebble.pebble.svc:14000/dir', 'https://ca.internal']) {
      expect(pattern.test(sample), sample).toBe(true);
      expect(parses(['--acme=true', `--acme-directory=${sample}`]), sample).toBe(true);
    }
    for (const sample of ['http://insecure.example/dir', 'acme-v02.api.letsencrypt.org/directory', 'https://', 'https:// spaced', '']) expect(pattern.test(sample), sample).toBe(false);
  });

  it('controller.workers: the schema accepts exactly what --workers accepts (empty: no flag)', () => {
    const controller = (schema as unknown as { properties: { controller: { properties: { workers: { anyOf: { type: string; minimum?: number; maximum?: number; pattern?: string }[] } } } } })
      .properties.controller.properties.workers;
    const integer = controller.anyOf.find((s) => s.type === 'integer')!;
    expect([integer.minimum, integer.maximum]).toEqual([0, 256]);
    expect(parses(['--workers=256'])).toBe(true);
    expect(parses(['--workers=257'])).toBe(false);
    const pattern = new RegExp(controller.anyOf.find((s) => s.type === 'string')?.pattern ?? '^$');
    expect(pattern.test('')).toBe(true); // the program's default: the chart renders no --workers
    const samples = ['auto', 'Auto', 'AUTO', 'all', '-1', '1.5', ' 2', '2 ', '0x10', '0000', '007', '1e2'];
    for (let n = 0; n < 1000; n++) samples.push(String(n), String(n).padStart(3, '0'));
    for (const sample of samples) expect(pattern.test(sample), sample).toBe(parses([`--workers=${sample}`]));
  });

  it('acme.email: an address or empty', () => {
    const pattern = new RegExp(top.acme?.properties?.email?.pattern ?? '^$');
    for (const sample of ['ops@example.com', 'a.b+c@sub.example.co.uk', '']) expect(pattern.test(sample), sample).toBe(true);
    for (const sample of ['ops', 'ops@', '@example.com', 'ops@example', 'o ps@example.com', 'a@b@c.d']) expect(pattern.test(sample), sample).toBe(false);
  });
});
