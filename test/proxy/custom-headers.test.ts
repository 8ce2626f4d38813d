// custom-headers (ingress-nginx more_set_headers from a ConfigMap): the stage in memory, its
// place in the plan (first, so answers of later stages carry the headers too), and through
// the proxy: the upstream's headers of those names replaced, other headers and other routes
// untouched, a local 403 of the same route carrying them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_FILTERS, type ConfigMapHeaders, type RouteFilters } from '../../src/model/types.ts';
import { customHeadersStage } from '../../src/proxy/filters/custom-headers.ts';
import { compilePlan, runPlan, type PlanHead } from '../../src/proxy/plan.ts';
import { FakeEndpoints, makeRoute, request, startProxy, startUpstream, type RunningProxy, type Upstream } from './fixtures.ts';

const HEADERS: ConfigMapHeaders = Object.freeze({ configMap: 'default/headers', headers: Object.freeze(['content-type', 'application/json', 'x-frame-options', 'DENY', 'x-literal', '$remote_addr']) });

function head(): PlanHead {
  return { host: 'app.test', url: '/', path: '/', hasBody: false, bodyLength: -1, reject: 0, requestId: 'r', clientIp: '127.0.0.1', headers: ['host', 'app.test'], upgrade: '', te: false, accessScheme: 'http', method: 'GET', answerHeaders: null, responseHeaders: null, onDone: null };
}

describe('custom-headers stage', () => {
  it('adds the ConfigMap\'s headers to the response, every request alike', () => {
    const stage = customHeadersStage(HEADERS);
    for (let i = 0; i < 2; i++) {
      const h = head();
      expect(stage(h)).toBe(0);
      expect(h.responseHeaders).toEqual(['content-type', 'application/json', 'x-frame-options', 'DENY', 'x-literal', '$remote_addr']);
      expect(h.answerHeaders).toBeNull();
    }
  });

  it('runs before the stages that may answer, so a 403 of the route carries the headers', () => {
    const filters: RouteFilters = { customHeaders: HEADERS, sourceRange: { allow: ['10.0.0.0/8'] } };
    const plan = compilePlan(makeRoute({ host: 'app.test', key: 'default/app:80', filters }));
    expect(plan.sync).toBe(true);
    const h = head();
    expect(runPlan(plan, h)).toBe(403);
    expect(h.responseHeaders).toContain('x-frame-options');
  });

  it('a route without the filter has no plan stages for it', () => {
    const plan = compilePlan(makeRoute({ host: 'app.test', key: 'default/app:80', filters: NO_FILTERS }));
    expect(plan.stages).toHaveLength(0);
  });
});

describe('through the proxy', () => {
  let upstream: Upstream;
  let proxy: RunningProxy;

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => {
      res.setHeader('X-Frame-Options', 'SAMEORIGIN');
      res.setHeader('Content-Type', 'text/html');
      res.setHeader('X-Backend', 'yes');
      res.end('<p>hi</p>');
    });
    const endpoints = new FakeEndpoints();
    endpoints.set('default/app:80', [upstream.port]);
    proxy = await startProxy({
      endpoints,
      routes: [
        { host: 'app.test', key: 'default/app:80', filters: { customHeaders: HEADERS } },
        { host: 'closed.test', key: 'default/app:80', filters: { customHeaders: HEADERS, sourceRange: { allow: ['10.0.0.0/8'] } } },
        { host: 'plain.test', key: 'default/app:80' },
      ],
    });
  });
  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('replaces the upstream\'s headers of those names (one line each) and keeps the others', async () => {
    const r = await request(proxy.port, { host: 'app.test' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('<p>hi</p>');
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-literal']).toBe('$remote_addr');
    expect(r.headers['x-backend']).toBe('yes');
    const lines = r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(lines.filter((n) => n === 'x-frame-options')).toHaveLength(1);
    expect(lines.filter((n) => n === 'content-type')).toHaveLength(1);
  });

  it('a local answer of the route (403) carries them; another route gets none', async () => {
    const closed = await request(proxy.port, { host: 'closed.test' });
    expect(closed.status).toBe(403);
    expect(closed.headers['x-frame-options']).toBe('DENY');
    const plain = await request(proxy.port, { host: 'plain.test' });
    expect(plain.status).toBe(200);
    expect(plain.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(plain.headers['x-literal']).toBeUndefined();
  });
});
