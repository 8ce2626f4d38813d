import { describe, expect, it } from 'vitest';
import { isManifestFileName, parseManifest } from '../../src/sources/files/parse.ts';

const values = (name: string, text: string) => {
  const r = parseManifest(name, text);
  if (!r.ok) throw new Error(r.message);
  return r.documents.map((d) => d.value);
};

describe('parseManifest', () => {
  it('selects manifest files by extension, skipping hidden names', () => {
    expect(['a.yaml', 'b.YML', 'c.json', 'd.txt', '.e.yaml', '..data', 'f.yaml~', 'g.yaml.swp'].filter(isManifestFileName)).toEqual([
      'a.yaml',
      'b.YML',
      'c.json',
    ]);
  });

  it('splits multi-document YAML; skips empty and comment-only documents and directives', () => {
    const text = '%YAML 1.2\n---\na: 1\n---\n# only a comment\n---\n\n---\nb: 2\n...\n---\nc: 3\n---\n';
    expect(values('x.yaml', text)).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  it('returns plain values: timestamps stay strings, unknown fields stay, block scalars keep their text', () => {
    const text = [
      'apiVersion: v1',
      'kind: Service',
      'metadata:',
      '  name: a',
      '  creationTimestamp: 2024-01-01T00:00:00Z',
      'spec:',
      '  extra: true',
      '  ports:',
      '  - port: 80',
      '---',
      'kind: Secret',
      'stringData:',
      '  pem: |',
      '    line one',
      '      indented',
      '',
      '    end',
    ].join('\n');
    expect(values('x.yaml', text)).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'a', creationTimestamp: '2024-01-01T00:00:00Z' },
        spec: { extra: true, ports: [{ port: 80 }] },
      },
      { kind: 'Secret', stringData: { pem: 'line one\n  indented\n\nend\n' } },
    ]);
  });

  it('handles content on the --- line and CRLF line ends', () => {
    expect(values('x.yml', '--- {a: 1}\r\n---\r\nb: 2\r\n')).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('reports YAML syntax errors with the file line and column, without quoting content', () => {
    const r = parseManifest('x.yaml', 'a: 1\n---\nkind: Secret\ndata:\n  key: "s3cr3t\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(/^YAML syntax error at line \d+, column \d+: /);
    expect(r.message).not.toContain('s3cr3t');
    const dup = parseManifest('x.yaml', 'a: 1\n---\nb: 1\nb: 2\n');
    expect(dup.ok ? '' : dup.message).toBe('YAML syntax error at line 4, column 1: duplicated mapping key');
  });

  it('reports JSON syntax errors with a position and without the excerpt V8 adds', () => {
    const r = parseManifest('x.json', '{"data": {"k": "s3cr3t"} oops}');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(/^JSON syntax error: .*line 1 column \d+/);
    expect(r.message).not.toContain('s3cr3t');
    const bare = parseManifest('x.json', 's3cr3t');
    expect(bare.ok ? '' : bare.message).not.toContain('s3cr3t');
  });

  it('expands kind: List, typed lists (items inherit kind and apiVersion), {items} and arrays', () => {
    const list = values('x.yaml', 'apiVersion: v1\nkind: List\nitems:\n- kind: Service\n  metadata: {name: a}\n- kind: Secret\n  metadata: {name: b}\n');
    expect(list).toEqual([
      { kind: 'Service', metadata: { name: 'a' } },
      { kind: 'Secret', metadata: { name: 'b' } },
    ]);
    const typed = values('x.json', JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressList', items: [{ metadata: { name: 'i' } }] }));
    expect(typed).toEqual([{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i' } }]);
    expect(values('x.json', JSON.stringify({ items: [{ kind: 'A' }] }))).toEqual([{ kind: 'A' }]);
    expect(values('x.json', JSON.stringify([{ kind: 'A' }, { kind: 'B' }]))).toEqual([{ kind: 'A' }, { kind: 'B' }]);
    const r = parseManifest('x.yaml', 'a: 1\n---\nkind: List\nitems:\n- {kind: X}\n');
    expect(r.ok && r.documents.map((d) => d.where)).toEqual(['document 1 (line 1)', 'document 2 (line 3), item 1']);
  });

  it('an empty file is no documents', () => {
    expect(values('x.yaml', '')).toEqual([]);
    expect(values('x.json', '  \n')).toEqual([]);
  });
});
