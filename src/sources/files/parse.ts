// Manifest text → raw documents (plain JSON values), with positions for error messages.
//
// YAML goes through `loadAllYaml` of @kubernetes/client-node (js-yaml 5, core schema: timestamps
// stay strings). That function also *deserializes* every document whose top level carries
// `apiVersion` and `kind` into client-node model classes (Date objects, unknown fields dropped,
// a TypeError for a wrong type anywhere) and throws on empty documents. We want the plain
// values, one document at a time, so each document is cut out at its `---` / `...` markers and
// handed over wrapped as the single item of a sequence: every line is indented by two columns,
// which keeps relative indentation (block scalars included) and line numbers, and a sequence
// is returned as it is. Errors are mapped back to the file's line and column.
//
// Error messages never quote file content (Secrets live in these files): js-yaml's `reason`
// and position only; JSON.parse messages lose their source excerpt.

import { loadAllYaml } from '@kubernetes/client-node';

export interface RawDocument {
  value: unknown;
  /** Human position, e.g. 'document 2 (line 14)', 'item 3'. */
  where: string;
}

export type ParseResult = { ok: true; documents: RawDocument[] } | { ok: false; message: string };

/** Aliases per document; enough for any hand-written manifest, bounds "billion laughs". */
const MAX_ALIASES = 1000;

export function isManifestFileName(name: string): boolean {
  if (name.startsWith('.')) return false; // hidden, editor swap files, ConfigMap `..data`
  const lower = name.toLowerCase();
  return lower.endsWith('.yaml') || lower.endsWith('.yml') || lower.endsWith('.json');
}

/** Parses a file's text by its extension (.json: JSON, else YAML); lists are expanded. */
export function parseManifest(fileName: string, text: string): ParseResult {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const raw = fileName.toLowerCase().endsWith('.json') ? parseJson(text) : parseYaml(text);
  if (!raw.ok) return raw;
  const documents: RawDocument[] = [];
  for (const d of raw.documents) expandList(d.value, d.where, documents, 0);
  return { ok: true, documents };
}

function parseJson(text: string): ParseResult {
  if (text.trim() === '') return { ok: true, documents: [] };
  try {
    return { ok: true, documents: [{ value: JSON.parse(text) as unknown, where: '' }] };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // V8 adds `, "<excerpt>" is not valid JSON`: drop the excerpt.
    let clean = msg.replace(/,\s*".*" is not valid JSON$/s, '').replace(/\s+/g, ' ');
    if (!/line \d+ column \d+/.test(clean)) {
      const pos = /at position (\d+)/.exec(clean);
      if (pos) {
        const { line, column } = lineColumn(text, Number(pos[1]));
        clean += ` (line ${line} column ${column})`;
      }
    }
    return { ok: false, message: `JSON syntax error: ${clean}` };
  }
}

interface Chunk {
  /** 0-based line of the chunk's first line in the file. */
  start: number;
  lines: string[];
  /** Columns removed from the first line (the `---` marker). */
  firstOffset: number;
}

const BLANK_OR_COMMENT = /^\s*(#.*)?$/;

function parseYaml(text: string): ParseResult {
  const lines = text.split(/\r\n|\r|\n/);
  const chunks: Chunk[] = [];
  let cur: Chunk = { start: 0, lines: [], firstOffset: 0 };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (isMarker(line, '---')) {
      chunks.push(cur);
      cur = { start: i, lines: [line.slice(3)], firstOffset: 3 };
    } else if (isMarker(line, '...')) {
      chunks.push(cur);
      cur = { start: i + 1, lines: [], firstOffset: 0 }; // the rest of a `...` line may only be a comment
    } else {
      cur.lines.push(line);
    }
  }
  chunks.push(cur);

  const documents: RawDocument[] = [];
  let n = 0;
  for (const chunk of chunks) {
    // directives (`%YAML 1.2`) belong to the next document: at a chunk's end, drop them
    for (let j = chunk.lines.length - 1; j >= 0; j--) {
      const l = chunk.lines[j]!;
      if (l.startsWith('%')) chunk.lines[j] = '';
      else if (!BLANK_OR_COMMENT.test(l)) break;
    }
    const first = chunk.lines.findIndex((l) => !BLANK_OR_COMMENT.test(l));
    if (first < 0) continue; // empty document: nothing, like kubectl
    n++;
    const wrapped = chunk.lines.map((l, j) => (j === 0 ? `- ${l}` : l === '' ? '' : `  ${l}`)).join('\n');
    let out: unknown;
    try {
      out = loadAllYaml(wrapped, { maxAliases: MAX_ALIASES }) as unknown;
    } catch (err) {
      return { ok: false, message: yamlError(err, chunk) };
    }
    if (!Array.isArray(out) || out.length !== 1 || !Array.isArray(out[0]) || out[0].length !== 1) {
      return { ok: false, message: `YAML document at line ${chunk.start + first + 1}: unexpected structure` };
    }
    const value: unknown = out[0][0];
    if (value === null || value === undefined) continue;
    documents.push({ value, where: `document ${n} (line ${chunk.start + first + 1})` });
  }
  return { ok: true, documents };
}

function isMarker(line: string, marker: string): boolean {
  if (!line.startsWith(marker)) return false;
  const c = line.charCodeAt(3);
  return line.length === 3 || c === 32 || c === 9;
}

function yamlError(err: unknown, chunk: Chunk): string {
  if (typeof err === 'object' && err !== null) {
    const e = err as { reason?: unknown; mark?: { line?: unknown; column?: unknown } };
    const reason = typeof e.reason === 'string' ? e.reason : 'invalid YAML';
    const ml = e.mark?.line;
    const mc = e.mark?.column;
    if (typeof ml === 'number' && typeof mc === 'number') {
      const line = chunk.start + ml + 1;
      const column = Math.max(1, mc - 2 + (ml === 0 ? chunk.firstOffset : 0) + 1);
      return `YAML syntax error at line ${line}, column ${column}: ${reason}`;
    }
    return `YAML syntax error: ${reason}`;
  }
  return 'YAML syntax error';
}

function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

/**
 * `kind: List` (what `kubectl get -o yaml` prints), typed lists (`IngressList` from the API,
 * whose items carry no kind/apiVersion), `{items: [...]}` without kind, and bare arrays are
 * expanded into their items.
 */
function expandList(value: unknown, where: string, out: RawDocument[], depth: number): void {
  const at = (i: number) => (where === '' ? `item ${i + 1}` : `${where}, item ${i + 1}`);
  if (Array.isArray(value) && depth < 2) {
    value.forEach((v, i) => {
      if (v !== null && v !== undefined) expandList(v, at(i), out, depth + 1);
    });
    return;
  }
  if (typeof value === 'object' && value !== null && depth < 2) {
    const o = value as Record<string, unknown>;
    const kind = o.kind;
    const items = o.items;
    const isList =
      Array.isArray(items) &&
      (kind === undefined || kind === null || kind === 'List' || (typeof kind === 'string' && kind.endsWith('List')));
    if (isList) {
      const itemKind = typeof kind === 'string' && kind !== 'List' ? kind.slice(0, -4) : undefined;
      const apiVersion = o.apiVersion;
      (items as unknown[]).forEach((item, i) => {
        if (item === null || item === undefined) return;
        let v = item;
        if (itemKind !== undefined && typeof item === 'object' && !Array.isArray(item)) {
          const it = item as Record<string, unknown>;
          v = { ...(it.apiVersion === undefined ? { apiVersion } : {}), ...(it.kind === undefined ? { kind: itemKind } : {}), ...it };
        }
        expandList(v, at(i), out, depth + 1);
      });
      return;
    }
  }
  out.push({ value, where });
}
