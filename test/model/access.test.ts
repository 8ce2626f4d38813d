// The access-option group (model/access-options.ts): allowlist/whitelist/denylist-source-range
// and basic authentication read into RouteFilters; anything that cannot be honoured turns every
// rule of the Ingress into a 503, never an open route. The behaviour follows ingress-nginx's
// ipallowlist/ipdenylist/auth annotation parsers and its e2e tests (annotations/ipallowlist.go,
// ipdenylist.go, auth.go).

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IncrementalTranslator } from '../../src/model/incremental.ts';
import { FORWARD, type RoutingConfig } from '../../src/model/types.ts';
import type { Secret } from '../../src/store/types.ts';
import { translate } from '../../src/model/translate.ts';
import { OPTIONS, ingress, path, reasons, rule, service, storeOf, svcBackend } from './helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';
const P = 'portico.dev/';

// Hashes of "secret" in each format, fixed so the test needs no hashing library.
const BCRYPT = '$2y$04$0DDawW9pO9nvXCRA1bAcLOEspifRONt7fR72SqNmoPQHTbR2tlPHG';
const SHA = '{SHA}' + createHash('sha1').update('secret').digest('base64');
const APR1 = '$apr1$NCp56buS$IdZZrYHW7awSWgVUUOIuO1';

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function secret(name: string, data: Record<string, string>, namespace = 'default'): Secret {
  return { metadata: { namespace, name }, type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}

function world(annotations: Record<string, string>, secrets: Secret[] = []): RoutingConfig {
  const store = storeOf({
    services: [service('default', 'app'), service('default', 'other')],
    ingresses: [
      ingress('guarded', [rule('shop.test', [path('/admin', 'Prefix', svcBackend('app')), path('/', 'Prefix', svcBackend('app'))])], { annotations }),
      ingress('neighbour', [rule('other.test', [path('/', 'Prefix', svcBackend('other'))])]),
    ],
  });
  for (const s of secrets) store.upsert('Secret', s);
  return translate(store, OPTIONS);
}

describe('source address lists', () => {
  it.each([
    [N + 'whitelist-source-range', 'allow'],
    [N + 'allowlist-source-range', 'allow'],
    [P + 'allowlist-source-range', 'allow'],
    [N + 'denylist-source-range', 'deny'],
    [P + 'denylist-source-range', 'deny'],
  ] as const)('%s becomes the %s list of every rule, entries trimmed, without a problem', (key, slot) => {
    const config = world({ [key]: ' 10.0.0.0/8 , 192.168.1.7,2001:db8::/32,::ffff:172.16.0.0/108 ' });
    for (const p of ['/admin', '/']) {
      const route = config.match('shop.test', p)!;
      expect(route.action).toBe(FORWARD);
      expect(route.filters.sourceRange).toEqual({ [slot]: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::ffff:172.16.0.0/108'] });
    }
    expect(reasons(config)).toEqual([]);
    expect(config.match('other.test', '/')!.filters.sourceRange).toBeUndefined();
  });

  it('allow and deny together: both lists on the rule', () => {
    const config = world({ [N + 'allowlist-source-range']: '10.0.0.0/8', [N + 'denylist-source-range']: '10.0.0.1' });
    expect(config.match('shop.test', '/')!.filters.sourceRange).toEqual({ allow: ['10.0.0.0/8'], deny: ['10.0.0.1'] });
  });

  it('allowlist-source-range wins over its older name whitelist-source-range, with a problem', () => {
    const config = world({ [N + 'allowlist-source-range']: '10.0.0.0/8', [N + 'whitelist-source-range']: '0.0.0.0/0' });
    expect(config.match('shop.test', '/')!.filters.sourceRange).toEqual({ allow: ['10.0.0.0/8'] });
    expect(reasons(config)).toEqual(['default/guarded: InvalidAnnotation']);
    expect(config.problems[0]!.message).toContain(`"${N}allowlist-source-range" is used`);
  });

  it.each(['10.0.0.0/33', 'not-an-ip', '10.0.0.0/8, 300.1.1.1', '', ' , ', '10.0.0.0/8;192.168.0.0/16', '010.0.0.1'])(
    'an invalid list %j fails closed: every rule answers 503 with a problem naming the value',
    (value) => {
      for (const name of ['allowlist-source-range', 'denylist-source-range']) {
        const config = world({ [N + name]: value });
        for (const p of ['/admin', '/']) {
          expect(config.match('shop.test', p)!.action).toEqual({ kind: 'direct', status: 503, body: expect.stringContaining('source address list') });
        }
        expect(reasons(config)).toEqual(['default/guarded: InvalidAnnotation']);
        expect(config.problems[0]!.message).toContain(`"${N}${name}" has the value ${JSON.stringify(value)}`);
        expect(config.match('other.test', '/')!.action).toBe(FORWARD);
      }
    },
  );
});

describe('basic authentication', () => {
  const htpasswd = `# users\nalice:${BCRYPT}\n\nbob:${SHA}\ncarol:${APR1}\n`;

  it('auth-file: the users of the htpasswd file in key "auth", with the realm', () => {
    const config = world(
      { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'users', [N + 'auth-realm']: 'Authentication "Required"' },
      [secret('users', { auth: htpasswd })],
    );
    const route = config.match('shop.test', '/admin')!;
    expect(route.action).toBe(FORWARD);
    expect(route.filters.basicAuth).toEqual({
      realm: 'Authentication Required',
      users: [
        { user: 'alice', hash: BCRYPT },
        { user: 'bob', hash: SHA },
        { user: 'carol', hash: APR1 },
      ],
    });
    expect(reasons(config)).toEqual([]);
  });

  it('auth-map: one key per user, the value its hash; a Secret in another namespace by ns/name', () => {
    const config = world(
      { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'auth/users', [N + 'auth-secret-type']: 'auth-map' },
      [secret('users', { bob: SHA, alice: BCRYPT }, 'auth')],
    );
    expect(config.match('shop.test', '/')!.filters.basicAuth).toEqual({
      realm: '',
      users: [
        { user: 'alice', hash: BCRYPT },
        { user: 'bob', hash: SHA },
      ],
    });
  });

  it('entries Portico cannot verify are skipped with a problem that names the user, never the hash', () => {
    const config = world({ [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'users' }, [
      secret('users', { auth: `alice:${BCRYPT}\ndes:abJnggxhB/yWI\nplain:hunter2\n` }),
    ]);
    expect(config.match('shop.test', '/')!.filters.basicAuth?.users).toEqual([{ user: 'alice', hash: BCRYPT }]);
    expect(reasons(config)).toEqual(['default/guarded: AuthSecretInvalid']);
    const message = config.problems[0]!.message;
    expect(message).toContain('"des"');
    expect(message).toContain('"plain"');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('abJnggxhB');
  });

  it.each([
    ['a missing Secret', { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'nope' }, [], 'AuthSecretInvalid', 'was not found'],
    ['no auth-secret', { [N + 'auth-type']: 'basic' }, [], 'InvalidAnnotation', 'needs auth-secret'],
    ['a bad Secret name', { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'a/b/c' }, [], 'InvalidAnnotation', 'not a Secret name'],
    ['digest', { [N + 'auth-type']: 'digest', [N + 'auth-secret']: 'users' }, [secret('users', { auth: `alice:${BCRYPT}` })], 'InvalidAnnotation', 'digest'],
    ['an unknown auth-secret-type', { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'users', [N + 'auth-secret-type']: 'file' }, [secret('users', { auth: `alice:${BCRYPT}` })], 'InvalidAnnotation', 'auth-map'],
    ['no key "auth"', { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'users' }, [secret('users', { other: `alice:${BCRYPT}` })], 'AuthSecretInvalid', 'no key "auth"'],
    ['no usable user', { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'users' }, [secret('users', { auth: 'plain:hunter2' })], 'AuthSecretInvalid', 'no user with a usable hash'],
  ] as const)('%s fails closed: every rule answers 503 with a problem', (_name, annotations, secrets, reason, words) => {
    const config = world(annotations, [...secrets]);
    for (const p of ['/admin', '/']) {
      expect(config.match('shop.test', p)!.action).toEqual({ kind: 'direct', status: 503, body: expect.stringContaining('authentication') });
    }
    expect(reasons(config)).toContain(`default/guarded: ${reason}`);
    expect(config.problems.map((p) => p.message).join('\n')).toContain(words);
    expect(config.problems.map((p) => p.message).join('\n')).not.toContain('hunter2');
    expect(config.match('other.test', '/')!.action).toBe(FORWARD);
  });

  it('auth-secret without auth-type: no authentication (as ingress-nginx), and a problem saying so', () => {
    const config = world({ [N + 'auth-secret']: 'users' }, [secret('users', { auth: `alice:${BCRYPT}` })]);
    expect(config.match('shop.test', '/')!.action).toBe(FORWARD);
    expect(config.match('shop.test', '/')!.filters.basicAuth).toBeUndefined();
    expect(config.problems[0]!.message).toContain('no effect without auth-type');
  });

  it('a Secret created, changed or deleted later re-translates the Ingress (the incremental translator follows it)', () => {
    const store = storeOf({
      services: [service('default', 'app')],
      ingresses: [ingress('guarded', [rule('shop.test', [path('/', 'Prefix', svcBackend('app'))])], { annotations: { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'users' } })],
    });
    const t = new IncrementalTranslator(OPTIONS);
    let config = t.apply(store, undefined, 1);
    expect(config.match('shop.test', '/')!.action.kind).toBe('direct');

    store.upsert('Secret', secret('users', { auth: `alice:${SHA}` }));
    config = t.apply(store, [{ kind: 'Secret', key: 'default/users' }], 2);
    expect(config.match('shop.test', '/')!.action).toBe(FORWARD);
    expect(config.match('shop.test', '/')!.filters.basicAuth?.users).toEqual([{ user: 'alice', hash: SHA }]);

    store.upsert('Secret', secret('users', { auth: `bob:${SHA}` }));
    config = t.apply(store, [{ kind: 'Secret', key: 'default/users' }], 3);
    expect(config.match('shop.test', '/')!.filters.basicAuth?.users).toEqual([{ user: 'bob', hash: SHA }]);
    expect(config).toEqual(translate(store, { ...OPTIONS, version: 3 }));

    store.remove('Secret', 'default/users');
    config = t.apply(store, [{ kind: 'Secret', key: 'default/users' }], 4);
    expect(config.match('shop.test', '/')!.action.kind).toBe('direct');
  });
});
