// The manifests index as a table, with no file system: steps of file changes (text, or null
// for a deleted file) in, the store writes, duplicate notices and problems out.

import { describe, expect, it } from 'vitest';
import { EMPTY_CONTENTS, fileContents } from '../../src/sources/files/contents.ts';
import { ManifestIndex, type FileChange, type IndexDelta } from '../../src/sources/files/index.ts';
import type { Service } from '../../src/store/types.ts';

const svc = (name: string, port = 80) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  ports:\n  - port: ${port}\n`;

type Step = Record<string, string | null>;

interface Outcome {
  /** `Service default/a:80` for every object written by the last step. */
  upserts: string[];
  removes: string[];
  duplicates: string[];
  /** `file reason` of every problem after the last step. */
  problems: string[];
  /** What the store holds after all steps. */
  objects: string[];
}

const port = (o: { obj: unknown }) => (o.obj as Service).spec?.ports?.[0]?.port;

function run(steps: readonly Step[]): Outcome {
  const index = new ManifestIndex();
  let delta: IndexDelta | undefined;
  for (const step of steps) {
    const changes: FileChange[] = Object.entries(step).map(([file, text]) => [
      file,
      text === null ? undefined : fileContents(file, text, index.contents(file) ?? EMPTY_CONTENTS).contents,
    ]);
    delta = index.apply(changes);
  }
  return {
    upserts: delta!.upserts.map((o) => `${o.display}:${port(o)}`).sort(),
    removes: delta!.removes.map((o) => o.display).sort(),
    duplicates: delta!.duplicates.map((d) => `${d.object} ignored in ${d.ignoredFile}, used from ${d.usedFile}`),
    problems: index.problems().map((p) => `${p.file} ${p.reason}`),
    objects: [...index.objects().values()].map((o) => `${o.display}:${port(o)}`).sort(),
  };
}

const cases: [string, Step[], Partial<Outcome>][] = [
  ['a new file writes its objects', [{ 'a.yaml': svc('a') + '---\n' + svc('b') }], { upserts: ['Service default/a:80', 'Service default/b:80'], removes: [], problems: [] }],
  ['a deleted file removes its objects', [{ 'a.yaml': svc('a') }, { 'a.yaml': null }], { upserts: [], removes: ['Service default/a'], objects: [] }],
  [
    'a re-read file writes only the objects that changed, removes the ones gone',
    [{ 'a.yaml': svc('a') + '---\n' + svc('b') + '---\n' + svc('c') }, { 'a.yaml': svc('a') + '---\n' + svc('b', 81) + '---\n' + svc('d') }],
    { upserts: ['Service default/b:81', 'Service default/d:80'], removes: ['Service default/c'] },
  ],
  [
    'one object in two files: the first file by name wins; the file whose copy is ignored is reported',
    [{ '20-b.yaml': svc('dup', 81), '10-a.yaml': svc('dup', 80) }],
    {
      upserts: ['Service default/dup:80'],
      duplicates: ['Service default/dup ignored in 20-b.yaml, used from 10-a.yaml'],
      problems: ['20-b.yaml Duplicate'],
    },
  ],
  [
    'a file earlier by name appears: it takes over, and the former winner is the ignored copy',
    [{ '20-b.yaml': svc('dup', 81) }, { '10-a.yaml': svc('dup', 80) }],
    {
      upserts: ['Service default/dup:80'],
      duplicates: ['Service default/dup ignored in 20-b.yaml, used from 10-a.yaml'],
      problems: ['20-b.yaml Duplicate'],
    },
  ],
  [
    'the winner goes: the next copy takes over and the problem goes',
    [{ '10-a.yaml': svc('dup', 80), '20-b.yaml': svc('dup', 81) }, { '10-a.yaml': null }],
    { upserts: ['Service default/dup:81'], removes: [], duplicates: [], problems: [], objects: ['Service default/dup:81'] },
  ],
  [
    'an edit of the ignored copy writes nothing and warns nothing new',
    [{ '10-a.yaml': svc('dup', 80), '20-b.yaml': svc('dup', 81) }, { '20-b.yaml': svc('dup', 82) }],
    { upserts: [], removes: [], duplicates: [], problems: ['20-b.yaml Duplicate'], objects: ['Service default/dup:80'] },
  ],
  [
    'three copies: both later files are reported against the first',
    [{ 'a.yaml': svc('dup', 80), 'b.yaml': svc('dup', 81), 'c.yaml': svc('dup', 82) }],
    {
      duplicates: ['Service default/dup ignored in b.yaml, used from a.yaml', 'Service default/dup ignored in c.yaml, used from a.yaml'],
      problems: ['b.yaml Duplicate', 'c.yaml Duplicate'],
    },
  ],
  [
    'an object moved from one file to another in one step is neither removed nor rewritten',
    [{ 'old.yaml': svc('x') }, { 'old.yaml': null, 'new.yaml': svc('x') }],
    { upserts: [], removes: [], objects: ['Service default/x:80'] },
  ],
  [
    'files replaced in one step: the new objects and the removal of the old come in one delta',
    [{ 'old.yaml': svc('old') }, { 'old.yaml': null, 'new.yaml': svc('new') }],
    { upserts: ['Service default/new:80'], removes: ['Service default/old'], objects: ['Service default/new:80'] },
  ],
  [
    'a file that stops parsing keeps its objects and reports the file',
    [{ 'a.yaml': svc('a') }, { 'a.yaml': 'kind: [\n' }],
    { upserts: [], removes: [], problems: ['a.yaml ParseError'], objects: ['Service default/a:80'] },
  ],
  [
    'an invalid object keeps its last good version',
    [{ 'a.yaml': svc('a') }, { 'a.yaml': svc('a').replace('port: 80', 'port: http') }],
    { upserts: [], removes: [], problems: ['a.yaml InvalidObject'], objects: ['Service default/a:80'] },
  ],
  [
    'the same object twice in one file: the first definition is used',
    [{ 'a.yaml': svc('x', 80) + '---\n' + svc('x', 81) }],
    { upserts: ['Service default/x:80'], problems: ['a.yaml Duplicate'] },
  ],
];

describe('ManifestIndex', () => {
  it.each(cases)('%s', (_name, steps, expected) => {
    expect(run(steps)).toMatchObject(expected);
  });
});
