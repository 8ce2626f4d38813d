// The program's wiring (buildCore) reports EndpointSlices with unusable addresses: a warning
// naming the slice and the portico_endpoint_problems gauge; a worker's core stays quiet.

import { describe, expect, it } from 'vitest';
import { buildCore } from '../../src/runtime/core.ts';
import { parseSettings } from '../../src/config/settings.ts';
import { createLogger } from '../../src/observe/log.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import type { EndpointSlice } from '../../src/store/types.ts';

const slice: EndpointSlice = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['999.1.1.1'] }],
};

describe('buildCore: endpoint problems', () => {
  it.each([
    [false, 1],
    [true, 0],
  ])('quietProblems %s: %i warning(s) and gauge series', async (quietProblems, expected) => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (l) => void lines.push(l) });
    const { settings } = parseSettings(['--manifests', '/nonexistent'], {});
    const core = await buildCore(settings, log, await generateSelfSigned(), { quietProblems });
    try {
      core.store.upsert('EndpointSlice', slice);
      expect(core.endpoints.get('shop/web:http').endpoints.map((e) => e.key)).toEqual(['10.0.0.1:8080']);
      const warnings = lines.map((l) => JSON.parse(l) as { level: string; slice?: string; component?: string }).filter((l) => l.level === 'warn' && l.slice === 'shop/web-abc');
      expect(warnings).toHaveLength(expected);
      if (expected > 0) expect(warnings[0]!.component).toBe('endpoints');
      const { body } = await core.metrics.render();
      const series = body.split('\n').filter((l) => l.startsWith('portico_endpoint_problems{'));
      expect(series).toEqual(expected > 0 ? ['portico_endpoint_problems{reason="InvalidAddress"} 1'] : []);
    } finally {
      core.stop();
    }
  });
});
