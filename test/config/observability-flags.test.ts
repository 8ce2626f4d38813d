// --metrics-compat, --access-log-query and --access-log-fields: what they accept, and the
// access log's field names are exactly those the formatter writes.

import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError } from '../../src/config/settings.ts';
import { ACCESS_LOG_FIELDS, DEFAULT_ACCESS_LOG_FIELDS } from '../../src/config/access-log-fields.ts';
import { FIELD_WRITERS } from '../../src/observe/access-log-format.ts';

const settings = (args: string[]) => parseSettings(args, {}).settings;

describe('--metrics-compat', () => {
  it('none by default; ingress-nginx; anything else refused', () => {
    expect(settings([]).metricsCompat).toBe('none');
    expect(settings(['--metrics-compat', 'ingress-nginx']).metricsCompat).toBe('ingress-nginx');
    expect(parseSettings([], { PORTICO_METRICS_COMPAT: 'ingress-nginx' }).settings.metricsCompat).toBe('ingress-nginx');
    expect(() => settings(['--metrics-compat', 'traefik'])).toThrow(/--metrics-compat: "traefik" is not one of none, ingress-nginx/);
  });
});

describe('--access-log-fields and --access-log-query', () => {
  it('the names are the formatter\'s, in the same order', () => {
    expect([...ACCESS_LOG_FIELDS]).toEqual(Object.keys(FIELD_WRITERS));
  });

  it('default: every field but the query string', () => {
    const s = settings([]);
    expect(s.accessLogQuery).toBe(false);
    expect(s.accessLogFields).toEqual([...DEFAULT_ACCESS_LOG_FIELDS]);
    expect(s.accessLogFields).not.toContain('query');
    expect(s.accessLogFields).toContain('userAgent');
    expect(s.accessLogFields).toContain('tlsVersion');
  });

  it('--access-log-query adds the query after the path', () => {
    const f = settings(['--access-log-query', 'true']).accessLogFields;
    expect(f.indexOf('query')).toBe(f.indexOf('path') + 1);
    expect(f).toHaveLength(DEFAULT_ACCESS_LOG_FIELDS.length + 1);
  });

  it('a chosen list, in its order, spaces ignored', () => {
    expect(settings(['--access-log-fields', 'status, method ,path']).accessLogFields).toEqual(['status', 'method', 'path']);
    expect(settings(['--access-log-fields', 'path,query', '--access-log-query', 'true']).accessLogFields).toEqual(['path', 'query']);
  });

  it('unknown names, repeats, and query without --access-log-query are refused at startup, naming them', () => {
    expect(() => settings(['--access-log-fields', 'method,useragent,bytes'])).toThrow(SettingsError);
    expect(() => settings(['--access-log-fields', 'method,useragent,bytes'])).toThrow(/unknown fields "useragent", "bytes"; known: method, host/);
    expect(() => settings(['--access-log-fields', 'method,method'])).toThrow(/"method" is listed twice/);
    expect(() => settings(['--access-log-fields', 'path,query'])).toThrow(/"query" needs --access-log-query=true/);
  });
});
