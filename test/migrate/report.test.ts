// migrate-check's report: which Ingresses Portico would serve (the program's class selection,
// with the ingress-nginx take-over flags), counts per annotation and per verdict over the
// served ones, the exit status, and both renderings.

import { describe, expect, it } from 'vitest';
import { buildReport } from '../../src/migrate/report.ts';
import { renderJson, renderTable } from '../../src/migrate/render.ts';
import type { Ingress } from '../../src/store/types.ts';
import { Store } from '../../src/store/store.ts';
import { ingress, ingressClass, path, rule, svcBackend } from '../model/helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';
const TAKE_OVER = { controllerName: 'k8s.io/ingress-nginx', ingressClass: 'nginx', watchWithoutClass: true };
const nginxClass = ingressClass('nginx', { controller: 'k8s.io/ingress-nginx' });

function ing(name: string, className: string | null, annotations: Record<string, string> = {}, namespace = 'shop'): Ingress {
  return ingress(name, [rule(`${name}.test`, [path('/', 'Prefix', svcBackend('s'))])], { namespace, className, annotations });
}

describe('migration report', () => {
  const ingresses = [
    ing('web', 'nginx', { [`${N}rewrite-target`]: '/$2', [`${N}proxy-body-size`]: '8m', [`${N}http2-push-preload`]: 'true' }),
    ing('admin', null, { [`${N}auth-snippet`]: 'proxy_set_header X-Team a;', [`${N}http2-push-preload`]: 'true' }),
    ing('legacy', null, { 'kubernetes.io/ingress.class': 'nginx', [`${N}proxy-bdy-size`]: '1m' }),
    ing('traefik', 'traefik', { [`${N}auth-tls-secret`]: 'https://auth' }, 'team'),
  ];

  it('serves what the class flags select, lists the rest with the reason', () => {
    const report = buildReport({ source: 'test', ingresses, classes: [nginxClass], options: TAKE_OVER });
    expect(report.ingresses.map((i) => [`${i.namespace}/${i.name}`, i.served, i.effect])).toEqual([
      ['shop/admin', true, 'answers-503'],
      ['shop/legacy', true, 'routes-ignoring'],
      ['shop/web', true, 'routes-ignoring'],
      ['team/traefik', false, 'not-served'],
    ]);
    expect(report.ingresses.map((i) => i.class)).toEqual([null, { from: 'annotation', name: 'nginx' }, { from: 'ingressClassName', name: 'nginx' }, { from: 'ingressClassName', name: 'traefik' }]);
    expect(report.ingresses[3]!.notServedBecause).toMatch(/IngressClass "traefik" does not exist or its spec.controller is not k8s.io\/ingress-nginx/);
    expect([report.served, report.notServed, report.needAttention]).toEqual([3, 1, 3]);
  });

  it('counts each annotation and each verdict on served Ingresses only, worst first', () => {
    const report = buildReport({ source: 'test', ingresses, classes: [nginxClass], options: TAKE_OVER });
    expect(report.annotations.map((a) => [a.key.replace(N, ''), a.verdict, a.ingresses])).toEqual([
      ['auth-snippet', 'fails-closed', 1],
      ['http2-push-preload', 'unsupported', 2],
      ['proxy-bdy-size', 'unknown', 1],
      ['rewrite-target', 'differs', 1],
      ['proxy-body-size', 'supported', 1],
    ]);
    // auth-tls-secret on the traefik Ingress is not counted
    expect(report.totals).toEqual({ supported: 1, differs: 1, unsupported: 2, 'fails-closed': 1, unknown: 1 });
    expect(Object.keys(report.totals)).toEqual(['supported', 'differs', 'unsupported', 'fails-closed', 'unknown']);
  });

  it('exit status: 0 when everything served is supported (differences included), 1 otherwise', () => {
    const ok = [ing('web', 'nginx', { [`${N}rewrite-target`]: '/', [`${N}ssl-redirect`]: 'false' })];
    expect(buildReport({ source: 't', ingresses: ok, classes: [nginxClass], options: TAKE_OVER }).exitCode).toBe(0);
    const needing: Record<string, string>[] = [{ [`${N}http2-push-preload`]: 'true' }, { [`${N}auth-snippet`]: 'proxy_set_header X-Team a;' }, { [`${N}no-such-thing`]: 'x' }, { 'portico.dev/typo': 'x' }];
    for (const annotations of needing) {
      const bad = [ing('web', 'nginx', annotations)];
      expect(buildReport({ source: 't', ingresses: bad, classes: [nginxClass], options: TAKE_OVER }).exitCode, JSON.stringify(annotations)).toBe(1);
    }
    // unreadable objects make the check incomplete
    expect(buildReport({ source: 't', ingresses: ok, classes: [nginxClass], options: TAKE_OVER, problems: ['x.yaml: ParseError: ...'] }).exitCode).toBe(1);
    // another controller's Ingress does not count
    const theirs = [ing('web', 'traefik', { [`${N}auth-tls-secret`]: 'https://a' })];
    expect(buildReport({ source: 't', ingresses: theirs, classes: [nginxClass], options: TAKE_OVER }).exitCode).toBe(0);
  });

  it('without --watch-ingress-without-class, class-less Ingresses are served only with a default class of ours', () => {
    const options = { ...TAKE_OVER, watchWithoutClass: false };
    const bare = [ing('bare', null)];
    expect(buildReport({ source: 't', ingresses: bare, classes: [nginxClass], options }).served).toBe(0);
    expect(buildReport({ source: 't', ingresses: bare, classes: [ingressClass('nginx', { controller: 'k8s.io/ingress-nginx', isDefault: true })], options }).served).toBe(1);
    expect(buildReport({ source: 't', ingresses: bare, classes: [nginxClass], options }).ingresses[0]!.notServedBecause).toMatch(/--watch-ingress-without-class is off/);
  });

  it('renders a table: Ingresses with their verdicts, counts with notes, totals and the result', () => {
    const text = renderTable(buildReport({ source: 'manifests /srv', ingresses, classes: [nginxClass], options: TAKE_OVER }));
    expect(text).toContain('Class selection: --controller-name k8s.io/ingress-nginx --ingress-class nginx --watch-ingress-without-class');
    expect(text).toMatch(/^ {2}INGRESS +CLASS +SERVED +OUTCOME$/m);
    expect(text).toMatch(/^ {2}shop\/admin +\(none\) +yes +answers 503 \(fails closed\)$/m);
    expect(text).toMatch(/^ {2}shop\/legacy +nginx \(annotation\) +yes +routes, ignoring some annotations$/m);
    expect(text).toMatch(/^ {2}team\/traefik +traefik +no +not served$/m);
    expect(text).toMatch(/^ {4}nginx\.ingress\.kubernetes\.io\/auth-snippet: fails closed: answers 503$/m);
    expect(text).toMatch(/^ {2}nginx\.ingress\.kubernetes\.io\/http2-push-preload +unsupported +2 +HTTP\/2 server push is obsolete \(browsers removed it\); remove the annotation$/m);
    expect(text).toContain('Totals (annotation uses on served Ingresses): 1 supported, 1 supported with differences, 2 unsupported, 1 fails closed: answers 503, 1 unknown annotation');
    expect(text).toContain('Result: needs attention: 3 of 3 served Ingresses carry annotations Portico does not honour');
  });

  it('renders JSON that parses back to the report', () => {
    const report = buildReport({ source: 'test', ingresses, classes: [nginxClass], options: TAKE_OVER });
    expect(JSON.parse(renderJson(report))).toEqual(JSON.parse(JSON.stringify(report)));
  });

  it('with the objects read (manifests): a Secret or ConfigMap an Ingress names that is missing makes it answer 503, said with the controller\'s words', () => {
    const objects = new Store();
    const guarded = ing('guarded', 'nginx', { [`${N}auth-type`]: 'basic', [`${N}auth-secret`]: 'htpasswd' });
    const headers = ing('headers', 'nginx', { [`${N}custom-headers`]: 'shop/security' });
    const backendTls = ing('backend-tls', 'nginx', { [`${N}backend-protocol`]: 'HTTPS', [`${N}proxy-ssl-secret`]: 'shop/client-cert' });
    expect(buildReport({ source: 'test', ingresses: [backendTls], classes: [nginxClass], options: TAKE_OVER, objects: new Store() }).ingresses[0]!.references).toEqual([
      expect.stringMatching(/^InvalidTLS: .*client-cert.* was not found/),
    ]);
    const build = () => buildReport({ source: 'test', ingresses: [guarded, headers], classes: [nginxClass], options: TAKE_OVER, objects });
    const missing = build();
    expect(missing.ingresses.map((i) => [i.name, i.effect])).toEqual([
      ['guarded', 'answers-503'],
      ['headers', 'answers-503'],
    ]);
    expect(missing.ingresses[0]!.references).toEqual([expect.stringMatching(/^AuthSecretInvalid: auth-secret "shop\/htpasswd" was not found/)]);
    expect(missing.ingresses[1]!.references).toEqual([expect.stringMatching(/^ConfigMapInvalid: .*security/)]);
    expect([missing.needAttention, missing.exitCode]).toEqual([2, 1]);
    expect(renderTable(missing)).toMatch(/^ {4}AuthSecretInvalid: auth-secret "shop\/htpasswd" was not found/m);
    // once they exist, both route
    objects.upsert('Secret', { metadata: { namespace: 'shop', name: 'htpasswd' }, type: 'Opaque', data: { auth: Buffer.from('alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n').toString('base64') } } as never);
    objects.upsert('ConfigMap', { metadata: { namespace: 'shop', name: 'security' }, data: { 'X-Frame-Options': 'DENY' } } as never);
    const present = build();
    expect(present.ingresses.map((i) => [i.name, i.effect, i.references.length])).toEqual([
      ['guarded', 'routes', 0],
      ['headers', 'routes', 0],
    ]);
    // without objects (a cluster): the references are not checked
    expect(buildReport({ source: 'test', ingresses: [guarded], classes: [nginxClass], options: TAKE_OVER }).ingresses[0]!.references).toEqual([]);
  });
});
