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
