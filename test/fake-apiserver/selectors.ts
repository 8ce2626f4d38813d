// Label and field selectors with the apiserver's grammar (k8s.io/apimachinery labels.Parse and
// fields.ParseSelector), enough for what controllers send.

import { apiError } from './errors.ts';

export type LabelRequirement =
  | { op: 'exists'; key: string }
  | { op: 'notexists'; key: string }
  | { op: 'in'; key: string; values: string[] }
  | { op: 'notin'; key: string; values: string[] }
  | { op: 'gt' | 'lt'; key: string; value: number };

export type LabelSelector = LabelRequirement[];

const MAX_SELECTOR_LEN = 16_384;

function badLabel(sel: string, why: string): Error {
  return apiError(400, `unable to parse requirement: ${why} (in labelSelector "${sel}")`);
}

function isIdentChar(c: string): boolean {
  return !/[\s,=!()<>]/.test(c);
}

/** Parse a label selector string. Empty string → matches everything. Throws a 400 FakeApiError. */
export function parseLabelSelector(input: string): LabelSelector {
  if (input.length > MAX_SELECTOR_LEN) throw badLabel(input.slice(0, 64), 'selector too long');
  const s = input;
  let i = 0;
  const reqs: LabelRequirement[] = [];
  const skipWs = (): void => {
    while (i < s.length && /\s/.test(s[i] ?? '')) i++;
  };
  const ident = (): string => {
    skipWs();
    const start = i;
    while (i < s.length && isIdentChar(s[i] ?? '')) i++;
    return s.slice(start, i);
  };
  const valueList = (): string[] => {
    skipWs();
    if (s[i] !== '(') throw badLabel(input, `expected '(' at ${i}`);
    i++;
    const values: string[] = [];
    for (let guard = 0; guard < s.length + 1; guard++) {
      const v = ident();
      values.push(v);
      skipWs();
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === ')') {
        i++;
        return values;
      }
      throw badLabel(input, `expected ',' or ')' at ${i}`);
    }
    throw badLabel(input, 'unterminated value list');
  };
  skipWs();
  if (i >= s.length) return reqs;
  for (let guard = 0; guard < s.length + 1; guard++) {
    skipWs();
    if (s[i] === '!') {
      i++;
      const key = ident();
      if (!key) throw badLabel(input, `expected key after '!' at ${i}`);
      reqs.push({ op: 'notexists', key });
    } else {
      const key = ident();
      if (!key) throw badLabel(input, `expected key at ${i}`);
      skipWs();
      const c = s[i];
      if (c === undefined || c === ',') {
        reqs.push({ op: 'exists', key });
      } else if (c === '=') {
        i += s[i + 1] === '=' ? 2 : 1;
        reqs.push({ op: 'in', key, values: [ident()] });
      } else if (c === '!' && s[i + 1] === '=') {
        i += 2;
        reqs.push({ op: 'notin', key, values: [ident()] });
      } else if (c === '<' || c === '>') {
        i++;
        const v = ident();
        const n = Number(v);
        if (v === '' || !Number.isInteger(n)) throw badLabel(input, `for '${c}' operator, the value must be an integer`);
        reqs.push({ op: c === '>' ? 'gt' : 'lt', key, value: n });
      } else {
        const word = ident();
        if (word === 'in') reqs.push({ op: 'in', key, values: valueList() });
        else if (word === 'notin') reqs.push({ op: 'notin', key, values: valueList() });
        else throw badLabel(input, `found '${word || c}', expected: '=', '!=', '==', 'in', notin'`);
      }
    }
    skipWs();
    if (i >= s.length) return reqs;
    if (s[i] !== ',') throw badLabel(input, `found '${s[i]}', expected: ','`);
    i++;
  }
  throw badLabel(input, 'selector too complex');
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of sel) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = has ? l[r.key] : undefined;
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case 'gt':
      case 'lt': {
        if (v === undefined) return false;
        const n = Number(v);
        if (!Number.isInteger(n)) return false;
        if (r.op === 'gt' ? !(n > r.value) : !(n < r.value)) return false;
        break;
      }
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export type FieldSelector = FieldRequirement[];

/** Split on unescaped separators; `\` escapes the next character. */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '\\' && i + 1 < s.length) {
      cur += c + (s[i + 1] ?? '');
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/**
 * Parse a field selector; `allowed` is the set of supported field labels. Unsupported fields are a
 * 400 like the real server ("field label not supported: X").
 */
export function parseFieldSelector(input: string, allowed: readonly string[]): FieldSelector {
  if (input.length > MAX_SELECTOR_LEN) throw apiError(400, 'field selector too long');
  if (input.trim() === '') return [];
  const out: FieldRequirement[] = [];
  for (const term of splitEscaped(input, ',')) {
    let m: RegExpMatchArray | null = null;
    // find the first unescaped operator
    for (let i = 0; i < term.length; i++) {
      if (term[i] === '\\') {
        i++;
        continue;
      }
      const rest = term.slice(i);
      const op = rest.startsWith('!=') ? '!=' : rest.startsWith('==') ? '==' : rest.startsWith('=') ? '=' : null;
      if (op) {
        m = [term, term.slice(0, i), op, term.slice(i + op.length)];
        break;
      }
    }
    if (!m) throw apiError(400, `invalid selector: '${input}'; can't understand '${term}'`);
    const field = (m[1] ?? '').trim();
    if (!allowed.includes(field)) throw apiError(400, `field label not supported: ${field}`);
    out.push({ field, op: m[2] === '!=' ? '!=' : '=', value: unescape(m[3] ?? '') });
  }
  return out;
}

function fieldValue(obj: Record<string, unknown>, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
  return '';
}

export function matchFields(sel: FieldSelector, obj: Record<string, unknown>): boolean {
  for (const r of sel) {
    const v = fieldValue(obj, r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
