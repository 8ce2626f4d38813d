import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestDirectorySource, type ManifestDirectorySourceOptions } from '../../src/sources/files/source.ts';
import { Store, type StoreChange } from '../../src/store/store.ts';
import type { Ingress, Secret, Service } from '../../src/store/types.ts';
import { recordingLogger, sleep, tempDir, waitFor, type LogLine } from './helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function setup(files: Record<string, string> = {}, opts: Partial<ManifestDirectorySourceOptions> = {}) {
  const dir = tempDir();
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const store = new Store();
  const changes: StoreChange[] = [];
  store.subscribe((c) => changes.push(c));
  const lines: LogLine[] = [];
  const log = recordingLogger(lines);
  const source = new ManifestDirectorySource({ dir, store, log, debounceMs: 20, settleMs: 40, ...opts });
  cleanups.push(() => source.stop());
  const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);
  return { dir, store, changes, lines, source, write };
}

const svcYaml = (name: string, port = 80, ns?: string) =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}spec:\n  ports:\n  - port: ${port}\n`;
const port = (store: Store, key: string) => store.get('Service', key)?.spec?.ports?.[0]?.port;

const INGRESS_YAML = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  ingressClassName: portico
  rules:
  - host: shop.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
`;

describe('ManifestDirectorySource', () => {
  it('loads multi-document YAML, JSON objects and lists at start', async () => {
    const { store, source } = setup({
      'a.yaml': `${INGRESS_YAML}---\n${svcYaml('web', 80, 'shop')}---\n# trailing empty document\n`,
      'b.json': JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls', namespace: 'shop' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==' } }),
      'c.json': JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } },
          { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }], ports: [{ port: 8080 }] },
        ],
      }),
      'd.yml': `apiVersion: v1\nkind: List\nitems:\n- ${svcYaml('api').trimEnd().replace(/\n/g, '\n  ')}\n`,
      'ignored.txt': svcYaml('nope'),
    });
    await source.start();
    expect(store.get('Ingress', 'shop/web')?.spec?.rules?.[0]?.host).toBe('shop.example');
    expect(port(store, 'shop/web')).toBe(80);
    expect((store.get('Secret', 'shop/tls') as Secret).data).toEqual({ 'tls.crt': 'Y2VydA==' });
    expect(store.get('IngressClass', 'portico')?.spec?.controller).toBe('portico.dev/ingress-controller');
    expect(store.get('EndpointSlice', 'shop/web-1')?.endpoints?.[0]?.addresses).toEqual(['10.0.0.1']);
    expect(port(store, 'default/api')).toBe(80);
    expect(store.get('Service', 'default/nope')).toBeUndefined();
    expect(source.problems).toEqual([]);
  });

  it('skips hidden files, other extensions and directories', async () => {
    const { store, source, dir } = setup({ '.hidden.yaml': svcYaml('h'), 'notes.txt': svcYaml('t'), 'a.yaml': svcYaml('a') });
    fs.mkdirSync(path.join(dir, 'sub.yaml'));
    fs.writeFileSync(path.join(dir, 'sub.yaml', 'b.yaml'), svcYaml('b'));
    await source.start();
    expect([...store.keys('Service')]).toEqual(['default/a']);
    expect(source.problems).toEqual([]);
  });

  it('picks up a new file, an in-place edit and a deletion', async () => {
    const { store, source, write, dir } = setup({ 'a.yaml': svcYaml('a') });
    await source.start();
    write('b.yaml', svcYaml('b', 81));
    await waitFor(() => port(store, 'default/b') === 81, 3000, 'new file');
    write('b.yaml', svcYaml('b', 82));
    await waitFor(() => port(store, 'default/b') === 82, 3000, 'edit in place');
    fs.unlinkSync(path.join(dir, 'b.yaml'));
    await waitFor(() => store.get('Service', 'default/b') === undefined, 3000, 'deletion');
    expect(port(store, 'default/a')).toBe(80);
  });

  it('follows write-then-rename (editors, atomic writers)', async () => {
    const { store, source, write, dir, changes } = setup({ 'a.yaml': svcYaml('a') });
    await source.start();
    write('.a.yaml.tmp', svcYaml('a', 8080));
    fs.renameSync(path.join(dir, '.a.yaml.tmp'), path.join(dir, 'a.yaml'));
    await waitFor(() => port(store, 'default/a') === 8080, 3000, 'renamed file');
    // a vim-style backup dance: move away, write anew
    fs.renameSync(path.join(dir, 'a.yaml'), path.join(dir, 'a.yaml~'));
    write('a.yaml', svcYaml('a', 9090));
    fs.unlinkSync(path.join(dir, 'a.yaml~'));
    await waitFor(() => port(store, 'default/a') === 9090, 3000, 'rewritten file');
    expect(changes.filter((c) => c.current === undefined)).toEqual([]); // never removed in between
  });

  it('diffs a re-read file: only changed objects are upserted, vanished ones removed', async () => {
    const { store, source, write, changes } = setup({ 'a.yaml': `${svcYaml('a')}---\n${svcYaml('b')}---\n${svcYaml('c')}` });
    await source.start();
    changes.length = 0;
    write('a.yaml', `${svcYaml('a')}---\n${svcYaml('b', 81)}---\n${svcYaml('d')}`);
    await waitFor(() => store.get('Service', 'default/d') !== undefined && store.get('Service', 'default/c') === undefined);
    expect(changes.map((c) => [c.key, c.old !== undefined, c.current !== undefined]).sort()).toEqual([
      ['default/b', true, true],
      ['default/c', true, false],
      ['default/d', false, true],
    ]);
  });

  it('follows a ConfigMap-style symlink swap of ..data', async () => {
    const { store, source, dir } = setup();
    fs.mkdirSync(path.join(dir, '..v1'));
    fs.writeFileSync(path.join(dir, '..v1', 'svc.yaml'), svcYaml('cm', 80));
    fs.symlinkSync('..v1', path.join(dir, '..data'));
    fs.symlinkSync(path.join('..data', 'svc.yaml'), path.join(dir, 'svc.yaml'));
    await source.start();
    expect(port(store, 'default/cm')).toBe(80);

    fs.mkdirSync(path.join(dir, '..v2'));
    fs.writeFileSync(path.join(dir, '..v2', 'svc.yaml'), svcYaml('cm', 81));
    fs.symlinkSync('..v2', path.join(dir, '..data_tmp'));
    fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    fs.rmSync(path.join(dir, '..v1'), { recursive: true });
    await waitFor(() => port(store, 'default/cm') === 81, 3000, 'symlink swap');
    expect(source.problems).toEqual([]);
  });

  it('keeps the last good objects of a file that stops parsing, and reports the file', async () => {
    const { store, source, write, lines, changes } = setup({ 'a.yaml': `${svcYaml('a')}---\n${svcYaml('b')}` });
    await source.start();
    changes.length = 0;
    write('a.yaml', `${svcYaml('a', 81)}---\nkind: [\n`);
    await waitFor(() => source.problems.length > 0, 3000, 'problem');
    expect(source.problems).toEqual([
      {
        file: 'a.yaml',
        reason: 'ParseError',
        message: expect.stringMatching(/^YAML syntax error at line 10, column \d+: .*; its last good objects keep serving$/),
      },
    ]);
    expect(port(store, 'default/a')).toBe(80);
    expect(port(store, 'default/b')).toBe(80);
    expect(changes).toEqual([]);
    const warn = lines.find((l) => l.level === 'warn' && /does not parse/.test(l.msg));
    expect(warn?.fields.file).toBe(path.join(source.dir, 'a.yaml'));

    write('a.yaml', svcYaml('a', 82));
    await waitFor(() => port(store, 'default/a') === 82, 3000, 'repaired file');
    expect(store.get('Service', 'default/b')).toBeUndefined();
    expect(source.problems).toEqual([]);
  });

  it('a file that does not parse at start contributes nothing and is reported', async () => {
    const { store, source } = setup({ 'bad.json': '{"kind": "Service",', 'good.yaml': svcYaml('a') });
    await source.start();
    expect(store.size('Service')).toBe(1);
    expect(source.problems).toEqual([{ file: 'bad.json', reason: 'ParseError', message: expect.stringMatching(/^JSON syntax error/) }]);
  });

  it('reports an invalid object by name while the rest of the file loads; keeps its last good version', async () => {
    const bad = `apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  ports:\n  - port: http\n`;
    const { store, source, write, lines } = setup({ 'a.yaml': `${svcYaml('a')}---\n${bad}---\nkind: Service\nmetadata: {}\n` });
    await source.start();
    expect(port(store, 'default/a')).toBe(80);
    expect(store.get('Service', 'default/b')).toBeUndefined();
    expect(source.problems).toEqual([
      {
        file: 'a.yaml',
        object: 'Service default/b',
        reason: 'InvalidObject',
        message: 'document 2 (line 9): spec.ports[0].port: expected an integer, got a string',
      },
      {
        file: 'a.yaml',
        reason: 'InvalidObject',
        message: 'document 3 (line 17): apiVersion: required; metadata.name: required',
      },
    ]);
    const warn = lines.find((l) => l.level === 'warn' && l.fields.object === 'Service default/b');
    expect(warn?.fields.file).toBe(path.join(source.dir, 'a.yaml'));

    // valid now; then broken again: the last good version stays
    write('a.yaml', `${svcYaml('a')}---\n${svcYaml('b', 81)}`);
    await waitFor(() => port(store, 'default/b') === 81, 3000, 'valid b');
    expect(source.problems).toEqual([]);
    write('a.yaml', `${svcYaml('a', 90)}---\n${bad}`);
    await waitFor(() => port(store, 'default/a') === 90, 3000, 'a edited');
    expect(port(store, 'default/b')).toBe(81);
    expect(source.problems).toEqual([
      expect.objectContaining({ object: 'Service default/b', message: expect.stringMatching(/its last good version keeps serving$/) }),
    ]);
  });

  it('an object defined in two files: the first file by name wins; the other takes over when it goes', async () => {
    const { store, source, dir, write, lines } = setup({ '10-a.yaml': svcYaml('dup', 80), '20-b.yaml': svcYaml('dup', 81) });
    await source.start();
    expect(port(store, 'default/dup')).toBe(80);
    // the warning's `file` is the file whose copy is ignored; `winner` the one in effect
    const warns = lines.filter((l) => l.level === 'warn' && /two manifest files/.test(l.msg));
    expect(warns.map((l) => [l.fields.file, l.fields.winner, l.fields.object])).toEqual([
      [path.join(source.dir, '20-b.yaml'), path.join(source.dir, '10-a.yaml'), 'Service default/dup'],
    ]);
    expect(source.problems).toEqual([
      {
        file: '20-b.yaml',
        object: 'Service default/dup',
        reason: 'Duplicate',
        message: 'Service default/dup is also defined in 10-a.yaml, which comes first by name; this definition is ignored',
      },
    ]);
    write('20-b.yaml', svcYaml('dup', 82)); // the loser's edits change nothing
    await source.rescan(); // resolves once the edit has settled and been applied
    expect(port(store, 'default/dup')).toBe(80);
    fs.unlinkSync(path.join(dir, '10-a.yaml'));
    await waitFor(() => port(store, 'default/dup') === 82, 3000, 'takeover');
    expect(source.problems).toEqual([]);
  });

  it('the same object twice in one file: the first definition is used', async () => {
    const { store, source } = setup({ 'a.yaml': `${svcYaml('x', 80)}---\n${svcYaml('x', 81)}` });
    await source.start();
    expect(port(store, 'default/x')).toBe(80);
    expect(source.problems).toEqual([
      expect.objectContaining({ file: 'a.yaml', object: 'Service default/x', reason: 'Duplicate' }),
    ]);
  });

  it('ignores other kinds, warning once per file and kind', async () => {
    const deploy = (n: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${n}\n`;
    const { store, source, write, lines } = setup({ 'a.yaml': `${deploy('x')}---\n${deploy('y')}---\n${svcYaml('a')}` });
    await source.start();
    expect(port(store, 'default/a')).toBe(80);
    expect(source.problems).toEqual([]);
    write('a.yaml', `${deploy('x')}---\n${svcYaml('a', 81)}`);
    await waitFor(() => port(store, 'default/a') === 81);
    const warns = lines.filter((l) => l.level === 'warn' && l.fields.kind === 'apps/v1 Deployment');
    expect(warns.length).toBe(1);
    expect(warns[0]!.fields.file).toBe(path.join(source.dir, 'a.yaml'));
  });

  it('debounces: a burst of writes becomes few store updates, ending at the last content', async () => {
    const { store, source, write, changes } = setup({ 'a.yaml': svcYaml('a', 1000) }, { debounceMs: 50 });
    await source.start();
    changes.length = 0;
    const scansBefore = source.scanCount;
    for (let i = 1; i <= 30; i++) {
      write('a.yaml', svcYaml('a', 1000 + i));
      await sleep(2);
    }
    await waitFor(() => port(store, 'default/a') === 1030, 3000, 'last write');
    await sleep(150);
    expect(changes.length).toBeLessThanOrEqual(3);
    expect(source.scanCount - scansBefore).toBeLessThanOrEqual(4);
  });

  it('polls when not watching', async () => {
    const { store, source, write } = setup({ 'a.yaml': svcYaml('a') }, { watch: false, pollIntervalMs: 50 });
    await source.start();
    write('a.yaml', svcYaml('a', 81));
    await waitFor(() => port(store, 'default/a') === 81, 3000, 'polled change');
  });

  it('never logs Secret data, even for broken or invalid Secrets', async () => {
    const secret = 'UzNDUjNUUzNDUjNU'; // base64
    const { source, write, lines } = setup({
      'a.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  key: ${secret}\n  bad: 5\nstringData:\n  plain: hunter2\n`,
    });
    await source.start();
    write('a.yaml', `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  key: "${secret}\n  plain: hunter2\n`);
    await waitFor(() => source.problems.some((p) => p.reason === 'ParseError'));
    const text = JSON.stringify(lines) + JSON.stringify(source.problems);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('hunter2');
  });

  it('drops resourceVersion so edits of exported objects are not mistaken for the same version', async () => {
    const withRv = (p: number) => svcYaml('a', p).replace('  name: a\n', '  name: a\n  resourceVersion: "5"\n');
    const { store, source, write } = setup({ 'a.yaml': withRv(80) });
    await source.start();
    expect((store.get('Service', 'default/a') as Service).metadata.resourceVersion).toBeUndefined();
    write('a.yaml', withRv(81));
    await waitFor(() => port(store, 'default/a') === 81);
  });

  it('reports problems to listeners', async () => {
    const { source, write } = setup({ 'a.yaml': svcYaml('a') });
    const seen: number[] = [];
    source.onProblems((p) => seen.push(p.length));
    await source.start();
    write('a.yaml', 'kind: [\n');
    await waitFor(() => seen.at(-1) === 1);
    write('a.yaml', svcYaml('a'));
    await waitFor(() => seen.at(-1) === 0);
  });

  it('keeps everything when the directory disappears, and recovers when it returns', async () => {
    const { store, source, dir } = setup({ 'a.yaml': svcYaml('a') }, { pollIntervalMs: 50 });
    await source.start();
    fs.rmSync(dir, { recursive: true });
    await waitFor(() => source.problems.some((p) => p.reason === 'DirectoryError'), 3000, 'directory problem');
    expect(port(store, 'default/a')).toBe(80);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'b.yaml'), svcYaml('b'));
    await waitFor(() => store.get('Service', 'default/b') !== undefined && store.get('Service', 'default/a') === undefined, 3000, 'recovery');
    expect(source.problems).toEqual([]);
  });

  it('rejects start when the directory is missing', async () => {
    const store = new Store();
    const source = new ManifestDirectorySource({ dir: '/nonexistent/portico', store, log: recordingLogger() });
    await expect(source.start()).rejects.toThrow(/manifests directory/);
  });

  it('stops writing to the store after stop()', async () => {
    const { store, source, write } = setup({ 'a.yaml': svcYaml('a') });
    await source.start();
    await source.stop();
    write('a.yaml', svcYaml('a', 81));
    await sleep(200);
    expect(port(store, 'default/a')).toBe(80);
    expect((store.get('Ingress', 'x') as Ingress | undefined)).toBeUndefined();
  });
});
