import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/settings.ts';
import { createLogger } from '../../src/observe/log.ts';
import { buildCore } from '../../src/runtime/core.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import type { Ingress } from '../../src/store/types.ts';
import { until } from '../workers/wait.ts';

const CONTROLLER = 'portico.dev/ingress-controller';
const ingress = (name: string, service?: { name: string }): Ingress => ({
  metadata: { namespace: 'a', name, resourceVersion: '1' },
  spec: {
    ingressClassName: 'portico',
    rules: [{ host: `${name}.test`, ...(service ? { http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service } }] } } : {}) }],
  },
});

describe('buildCore', () => {
  it('logs each configuration problem once, and none with quietProblems (a worker; the primary reports)', async () => {
    const { settings } = parseSettings(['--workers=0'], {});
    const fallback = await generateSelfSigned();
    for (const quietProblems of [false, true]) {
      const lines: { msg: string; reason?: string }[] = [];
      const log = createLogger('info', { write: (l) => void lines.push(JSON.parse(l) as { msg: string; reason?: string }) });
      const core = await buildCore(settings, log, fallback, { quietProblems });
      core.store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: CONTROLLER } });
      core.store.upsert('Ingress', ingress('b', { name: 'svc' })); // a backend port is missing: InvalidBackend
      core.reconciler.start();
      core.store.upsert('Ingress', ingress('c'));
      await until('a second build', () => core.reconciler.buildCount >= 2);
      expect(core.reconciler.current().problems.map((p) => p.reason)).toContain('InvalidBackend');
      expect(lines.filter((l) => l.reason === 'InvalidBackend')).toHaveLength(quietProblems ? 0 : 1);
      core.stop();
    }
  });
});

describe('Core.applySettings', () => {
  it('rebuilds its own configuration with edited --custom-http-errors (the primary after an --nginx-configmap edit); the same settings build nothing', async () => {
    const args = ['--workers=0', '--default-backend-service', 'a/errors', '--custom-http-errors', '503'];
    const { settings } = parseSettings(args, {});
    const core = await buildCore(settings, createLogger('error', { write: () => {} }), await generateSelfSigned());
    core.store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: CONTROLLER } });
    core.store.upsert('Service', { metadata: { namespace: 'a', name: 'errors', resourceVersion: '1' }, spec: { ports: [{ port: 80 }] } });
    core.store.upsert('Service', { metadata: { namespace: 'a', name: 'svc', resourceVersion: '1' }, spec: { ports: [{ port: 80 }] } });
    const web: Ingress = {
      metadata: { namespace: 'a', name: 'web', resourceVersion: '1' },
      spec: { ingressClassName: 'portico', rules: [{ host: 'web.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc', port: { number: 80 } } } }] } }] },
    };
    core.store.upsert('Ingress', web);
    core.reconciler.start();
    const codes = (): readonly number[] | undefined => [...core.reconciler.current().routes()].find((r) => r.host === 'web.test')?.filters.errors?.codes;
    expect(codes()).toEqual([503]);
    const before = core.reconciler.buildCount;
    core.applySettings(parseSettings(args, {}).settings);
    expect(core.reconciler.buildCount).toBe(before);
    core.applySettings(parseSettings([...args, '--custom-http-errors', '502,504'], {}).settings);
    expect(core.reconciler.buildCount).toBe(before + 1);
    expect(codes()).toEqual([502, 504]);
    // and it follows the store from there as before
    core.store.upsert('Ingress', { ...web, metadata: { ...web.metadata, name: 'web2', resourceVersion: '1' }, spec: { ...web.spec, rules: [{ ...web.spec!.rules![0]!, host: 'web2.test' }] } });
    await until('the next build', () => [...core.reconciler.current().routes()].some((r) => r.host === 'web2.test'));
    expect([...core.reconciler.current().routes()].find((r) => r.host === 'web2.test')?.filters.errors?.codes).toEqual([502, 504]);
    core.stop();
  });
});
