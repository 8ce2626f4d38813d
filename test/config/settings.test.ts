// The name-shaped flags, as values/dns-name.ts checks them: what they accept must not change
// (the Helm chart's values.schema.json accepts the same, see test/chart/flags.test.ts).

import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError } from '../../src/config/settings.ts';

const parses = (args: string[]): boolean => {
  try {
    parseSettings(args, {});
    return true;
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    return false;
  }
};

describe('name flags', () => {
  it('--controller-name: a dotted domain, "/", then a path without spaces', () => {
    for (const ok of ['portico.dev/ingress-controller', 'k8s.io/ingress-nginx', 'a/b/c', 'a..b/x']) expect(parses([`--controller-name=${ok}`]), ok).toBe(true);
    for (const bad of ['portico', '/x', 'a/', 'a/b c', 'A.dev/x', '-a/x', `a/${'x'.repeat(250)}`]) expect(parses([`--controller-name=${bad}`]), bad).toBe(false);
  });

  it('--ingress-class and --election-id: dotted names', () => {
    for (const flag of ['ingress-class', 'election-id']) {
      for (const ok of ['nginx', 'edge.v2', 'a..b']) expect(parses([`--${flag}=${ok}`]), ok).toBe(true);
      for (const bad of ['Nginx', '-a', 'a.', 'a_b', 'a/b']) expect(parses([`--${flag}=${bad}`]), bad).toBe(false);
    }
  });

  it('--publish-service: NAMESPACE/NAME, both DNS labels', () => {
    expect(parseSettings(['--publish-service=edge/public-lb'], {}).settings.publishService).toEqual({ namespace: 'edge', name: 'public-lb' });
    for (const bad of ['edge', 'edge/', '/lb', 'edge/lb/x', 'edge/lb.v2', 'Edge/lb']) expect(parses([`--publish-service=${bad}`]), bad).toBe(false);
  });

  it('--default-ssl-certificate: NAMESPACE/NAME of a Secret (dotted name)', () => {
    expect(parseSettings(['--default-ssl-certificate=team-a/tls.example.com'], {}).settings.defaultSslCertificate).toBe('team-a/tls.example.com');
    for (const bad of ['tls', 'a.b/tls', 'a/b/c', 'a/-x', 'a_b/c']) expect(parses([`--default-ssl-certificate=${bad}`]), bad).toBe(false);
  });

  it('--watch-namespace: comma-separated namespace names, the first bad one named', () => {
    expect(parseSettings(['--watch-namespace= shop, team-b'], {}).settings.watchNamespaces).toEqual(['shop', 'team-b']);
    expect(parseSettings([], {}).settings.watchNamespaces).toEqual([]);
    expect(() => parseSettings(['--watch-namespace=shop,Team_B'], {})).toThrow(/--watch-namespace: "Team_B" is not a namespace name/);
    for (const bad of ['shop/web', '-a', 'a.b', 'x'.repeat(64)]) expect(parses([`--watch-namespace=${bad}`]), bad).toBe(false);
  });

  it('--trusted-proxies: addresses and CIDRs, with the first bad one named', () => {
    expect(parseSettings(['--trusted-proxies=10.0.0.0/8, 2001:db8::/32,192.0.2.7'], {}).settings.trustedProxies).toEqual(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
    expect(() => parseSettings(['--trusted-proxies=10.0.0.0/8,nope'], {})).toThrow(/--trusted-proxies: "nope" is not an IP address or CIDR/);
    expect(parses(['--trusted-proxies=1.2.3.4%eth0'])).toBe(false);
  });
});

describe("ingress-nginx's boolean flags (--watch-ingress-without-class, --update-status)", () => {
  const settingsOf = (args: string[], env: NodeJS.ProcessEnv = {}) => parseSettings(args, env).settings;

  it('default: class-less Ingresses are not ours, status is written', () => {
    expect(settingsOf([])).toMatchObject({ watchIngressWithoutClass: false, updateStatus: true });
  });

  it('alone, with =value, with a separate value, before other flags and last, as ingress-nginx is run', () => {
    expect(settingsOf(['--watch-ingress-without-class'])).toMatchObject({ watchIngressWithoutClass: true });
    expect(settingsOf(['--watch-ingress-without-class', '--update-status=false'])).toMatchObject({ watchIngressWithoutClass: true, updateStatus: false });
    expect(settingsOf(['--update-status=false', '--watch-ingress-without-class'])).toMatchObject({ watchIngressWithoutClass: true, updateStatus: false });
    expect(settingsOf(['--watch-ingress-without-class=false', '--update-status', 'false'])).toMatchObject({ watchIngressWithoutClass: false, updateStatus: false });
    expect(settingsOf(['--update-status', '--ingress-class', 'nginx'])).toMatchObject({ updateStatus: true, ingressClass: 'nginx' });
    expect(settingsOf(['--update-status=true'])).toMatchObject({ updateStatus: true });
  });

  it('the environment, and a flag wins over it', () => {
    expect(settingsOf([], { PORTICO_WATCH_INGRESS_WITHOUT_CLASS: 'true', PORTICO_UPDATE_STATUS: 'false' })).toMatchObject({ watchIngressWithoutClass: true, updateStatus: false });
    expect(settingsOf(['--update-status'], { PORTICO_UPDATE_STATUS: 'false' })).toMatchObject({ updateStatus: true });
  });

  it('other values are refused, naming the flag', () => {
    expect(() => parseSettings(['--update-status=no'], {})).toThrow(/--update-status: "no" is not one of true, false/);
    expect(() => parseSettings(['--watch-ingress-without-class', 'yes'], {})).toThrow(SettingsError);
  });
});

describe('--limit-req-status-code / --limit-conn-status-code (ingress-nginx ConfigMap keys)', () => {
  it('default 503 each; any status from 400 to 599', () => {
    const d = parseSettings([], {}).settings;
    expect([d.limitReqStatusCode, d.limitConnStatusCode]).toEqual([503, 503]);
    const s = parseSettings(['--limit-req-status-code=429', '--limit-conn-status-code', '599'], {}).settings;
    expect([s.limitReqStatusCode, s.limitConnStatusCode]).toEqual([429, 599]);
  });
  it.each(['200', '399', '600', '4290', 'abc', ''])('%j is refused', (v) => {
    expect(() => parseSettings([`--limit-req-status-code=${v}`], {})).toThrow(/--limit-req-status-code: .* must be a status code from 400 to 599/);
    expect(() => parseSettings([`--limit-conn-status-code=${v}`], {})).toThrow(SettingsError);
  });
});
