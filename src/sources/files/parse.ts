// Manifest text → raw documents (plain JSON values), with positions for error messages.
//
// YAML goes through js-yaml's core schema (timestamps stay strings, like the API server
// sends them) with a bound on aliases ("billion laughs"). Error messages never quote file
// content (Secrets live in these files): js-yaml's reason and position only; JSON.parse
// messages lose their source excerpt.

import { CORE_SCHEMA, loadAll } from 'js-yaml';

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

function parseYaml(text: string): ParseResult {
  const values: unknown[] = [];
  try {
    loadAll(text, (doc) => values.push(doc), { schema: CORE_SCHEMA, maxAliases: MAX_ALIASES });
  } catch (err) {
    return { ok: false, message: yamlError(err) };
  }
  const lines = documentLines(text, values.length);
  const documents: RawDocument[] = [];
  values.forEach((value, i) => {
    // empty and comment-only documents are nothing, as for kubectl
    if (value === null || value === undefined) return;
    const line = lines[i];
    documents.push({ value, where: line === undefined ? `document ${i + 1}` : `document ${i + 1} (line ${line})` });
  });
  return { ok: true, documents };
}

/**
 * The first content line of each document, for messages: documents start at `---` markers
 * (column 0), and the text before the first marker is a document only when it has content
 * other than comments and directives. Empty when the count does not match the parser's.
 */
function documentLines(text: string, count: number): (number | undefined)[] {
  const starts: number[] = [];
  let pending: { marker: number; content: number | undefined } = { marker: -1, content: undefined };
  const close = () => {
    if (pending.marker >= 0 || pending.content !== undefined) starts.push(pending.content ?? pending.marker);
  };
  const all = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < all.length; i++) {
    const line = all[i]!;
    if (/^---(\s|$)/.test(line)) {
      close();
      pending = { marker: i + 1, content: /^---\s+[^\s#]/.test(line) ? i + 1 : undefined };
    } else if (pending.content === undefined && !/^\s*(#.*)?$/.test(line) && !line.startsWith('%') && !line.startsWith('...')) {
      pending.content = i + 1;
    }
  }
  close();
  return starts.length === count ? starts : [];
}

function yamlError(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const e = err as { reason?: unknown; mark?: { line?: unknown; column?: unknown } };
    const reason = typeof e.reason === 'string' ? e.reason : 'invalid YAML';
    const line = e.mark?.line;
    const column = e.mark?.column;
    if (typeof line === 'number' && typeof column === 'number') {
      return `YAML syntax error at line ${line + 1}, column ${column + 1}: ${reason}`;
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
