// The CORS stage in memory: which requests get which headers, the preflight answer, and how
// the route's headers replace the backend's (nginx more_set_headers).

import { describe, expect, it } from 'vitest';
import type { CorsPolicy } from '../../src/model/types.ts';
import { corsStage } from '../../src/proxy/filters/cors.ts';
import { mergeResponseHeaders } from '../../src/proxy/headers.ts';
import type { PlanHead } from '../../src/proxy/plan.ts';

const BASE: CorsPolicy = { origins: '*', methods: 'GET, POST', headers: 'Content-Type', expose: '', credentials: true, maxAge: 60 };

function head(method: string, origin: string | null): PlanHead {
  const headers = ['host', 'app.test'];
  if (origin !== null) headers.push('Origin', origin);
  return { host: 'app.test', url: '/', path: '/', hasBody: false, bodyLength: -1, reject: 0, requestId: 'r', clientIp: '127.0.0.1', headers, upgrade: '', te: false, accessScheme: 'http', method, answerHeaders: null, responseHeaders: null, onDone: null };
}

function run(policy: CorsPolicy, method: string, origin: string | null): { status: number; answer: string[] | null; response: string[] | null } {
  const h = head(method, origin);
  const status = corsStage(policy)(h);
  return { status, answer: h.answerHeaders, response: h.responseHeaders };
}

describe('CORS stage', () => {
  it('`*`: every response gets Allow-Origin `*` (and credentials), even without an Origin header; the preflight-only headers are not on it', () => {
    const r = run(BASE, 'GET', null);
    expect(r.status).toBe(0);
    expect(r.answer).toBeNull();
    expect(r.response).toEqual(['access-control-allow-origin', '*', 'access-control-allow-credentials', 'true']);
  });

  it('an allowed OPTIONS is answered 204 with every CORS header in the answer, not forwarded', () => {
    const r = run(BASE, 'OPTIONS', 'https://a.test');
    expect(r.status).toBe(204);
    expect(r.response).toBeNull();
    expect(r.answer).toEqual([
      'access-control-allow-origin', '*',
      'access-control-allow-credentials', 'true',
      'access-control-allow-methods', 'GET, POST',
      'access-control-allow-headers', 'Content-Type',
      'access-control-max-age', '60',
    ]);
  });

  it('a list echoes the matching Origin as sent, with Vary: Origin; others get nothing and go on', () => {
    const policy: CorsPolicy = { ...BASE, origins: ['https://a.test', 'http://*.origin.cors.com', 'http://*.origin.com:8080', 'null'], credentials: false, expose: 'X-Total' };
    const ok = run(policy, 'GET', 'HTTPS://A.test');
    expect(ok.status).toBe(0);
    expect(ok.response).toEqual(['access-control-allow-origin', 'HTTPS://A.test', 'access-control-expose-headers', 'X-Total', 'vary', 'Origin']);
    const pre = run(policy, 'OPTIONS', 'https://a.test');
    expect(pre.answer).toEqual([
      'access-control-allow-origin', 'https://a.test',
      'access-control-expose-headers', 'X-Total',
      'access-control-allow-methods', 'GET, POST',
      'access-control-allow-headers', 'Content-Type',
      'access-control-max-age', '60',
      'vary', 'Origin',
    ]);
    // one DNS label for `*.`, port exact (ingress-nginx's e2e cases)
    for (const origin of ['http://foo.origin.cors.com', 'http://bar-foo.origin.cors.com', 'http://abc.origin.com:8080', 'null']) {
      expect(run(policy, 'GET', origin).response?.[1], origin).toBe(origin);
    }
    for (const origin of ['http://bar.foo.origin.cors.com', 'http://origin.cors.com', 'http://abc.origin.com', 'http://abc.origin.com:80', 'https://a.test:443', 'https://a.test.evil', 'https://fooxbar.com', '']) {
      const r = run(policy, 'GET', origin);
      expect(r.response, origin).toBeNull();
      expect(r.status).toBe(0);
    }
    expect(run(policy, 'GET', null).response).toBeNull();
    // a preflight from an origin that is not allowed is the backend's to answer
    expect(run(policy, 'OPTIONS', 'https://b.test').status).toBe(0);
  });

  it('the route\'s headers replace the backend\'s of the same name; Vary and Set-Cookie add up', () => {
    const upstream = ['content-type', 'text/html', 'access-control-allow-origin', 'https://backend.test', 'vary', 'Accept-Encoding', 'set-cookie', 'a=1', 'access-control-max-age', '5'];
    mergeResponseHeaders(upstream, ['access-control-allow-origin', '*', 'access-control-max-age', '60', 'vary', 'Origin', 'set-cookie', 'b=2']);
    expect(upstream).toEqual(['content-type', 'text/html', 'vary', 'Accept-Encoding', 'set-cookie', 'a=1', 'access-control-allow-origin', '*', 'access-control-max-age', '60', 'vary', 'Origin', 'set-cookie', 'b=2']);
  });
});
