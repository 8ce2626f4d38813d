// --nginx-configmap (config/nginx-configmap.ts): ingress-nginx's controller ConfigMap keys → Portico
// flags, each checked by the flag's own parser; applied over the command line; every key reported.

import { describe, expect, it } from 'vitest';
import { nginxConfigMapFlags, parseConfigMapRef } from '../../src/config/nginx-configmap.ts';
import { parseSettings, SettingsError } from '../../src/config/settings.ts';

const BASE = ['--manifests', '/tmp/none'];
const check = (extra: readonly string[]): void => void parseSettings([...BASE, ...extra], {});

describe('ingress-nginx ConfigMap keys', () => {
  it('maps the keys with Portico equivalents, drops bad values alone, and reports every other key', () => {
    const out = nginxConfigMapFlags(
      {
        'proxy-body-size': '8m',
        hsts: 'false',
        'hsts-max-age': 'a year',
        'proxy-connect-timeout': '10',
        'proxy-read-timeout': '120',
        'proxy-send-timeout': '30',
        'client-body-timeout': 'soon',
        'whitelist-source-range': '10.0.0.0/8, 192.168.0.0/16',
        'use-forwarded-headers': 'true',
        'proxy-real-ip-cidr': '10.0.0.0/8',
        'global-auth-url': 'http://auth.test/check',
        'allow-snippet-annotations': 'false',
        'worker-processes': 'auto',
        'ssl-redirect': 'False',
        'force-ssl-redirect': 'maybe',
        'custom-http-errors': '404,503',
      },
      check,
    );
    // in the order of the keys
    expect(out.args).toEqual([
      '--global-auth-url=http://auth.test/check',
      '--hsts=false',
      '--proxy-body-size=8m',
      '--connect-timeout=10s',
      '--response-header-timeout=120s',
      '--send-timeout=30s',
      '--ssl-redirect=false',
      '--trusted-proxies=10.0.0.0/8',
      '--whitelist-source-range=10.0.0.0/8, 192.168.0.0/16',
    ]);
    expect(out.invalid.map((i) => i.key)).toEqual(['client-body-timeout', 'custom-http-errors', 'force-ssl-redirect', 'hsts-max-age']);
    // the error pages come from --default-backend-service (a flag in ingress-nginx too)
    expect(out.invalid.find((i) => i.key === 'custom-http-errors')!.message).toContain('needs --default-backend-service');
    expect(out.invalid.find((i) => i.key === 'hsts-max-age')!.message).toContain('--hsts-max-age');
    expect(out.ignored.map((i) => i.key)).toEqual(['allow-snippet-annotations', 'proxy-real-ip-cidr']);
    expect(out.unsupported).toEqual([{ key: 'worker-processes', note: 'no Portico equivalent' }]);
    const withPages = (extra: readonly string[]): void => void parseSettings([...BASE, '--default-backend-service', 'ingress-nginx/error-pages', ...extra], {});
    const pages = nginxConfigMapFlags({ 'custom-http-errors': '404, 503' }, withPages);
    expect(pages.args).toEqual(['--custom-http-errors=404, 503']);
    expect(parseSettings([...BASE, '--default-backend-service', 'ingress-nginx/error-pages', ...pages.args], {}).settings.customHttpErrors).toEqual([404, 503]);
  });

  it('the ConfigMap is applied over the command line and the environment, except that --trusted-proxies is never widened', () => {
    const argv = [...BASE, '--proxy-body-size=2m', '--trusted-proxies=10.1.0.0/16'];
    const isSet = (flag: string) => argv.some((a) => a.startsWith(`--${flag}=`));
    const out = nginxConfigMapFlags({ 'proxy-body-size': '16m', 'use-forwarded-headers': 'true' }, check, isSet);
    expect(out.ignored.map((i) => i.key)).toEqual(['use-forwarded-headers']);
    const { settings } = parseSettings([...argv, ...out.args], { PORTICO_PROXY_BODY_SIZE: '4m' });
    expect(settings.bodyLimit).toBe(16 * 1024 * 1024);
    expect(settings.trustedProxies).toEqual(['10.1.0.0/16']);
    // without --trusted-proxies, use-forwarded-headers trusts every peer, as ingress-nginx's default proxy-real-ip-cidr
    expect(nginxConfigMapFlags({ 'use-forwarded-headers': 'true' }, check).args).toEqual(['--trusted-proxies=0.0.0.0/0,::/0']);
    expect(nginxConfigMapFlags({ 'use-forwarded-headers': 'false' }, check).args).toEqual([]);
  });

  it('--nginx-configmap takes NAMESPACE/NAME', () => {
    expect(parseConfigMapRef('ingress-nginx/ingress-nginx-controller')).toEqual({ namespace: 'ingress-nginx', name: 'ingress-nginx-controller' });
    expect(typeof parseConfigMapRef('just-a-name')).toBe('string');
    expect(parseSettings([...BASE, '--nginx-configmap', 'ingress-nginx/ingress-nginx-controller'], {}).settings.nginxConfigMap).toEqual({ namespace: 'ingress-nginx', name: 'ingress-nginx-controller' });
    expect(() => parseSettings([...BASE, '--nginx-configmap', 'Bad/Name'], {})).toThrow(SettingsError);
  });
});
