// JSON Merge Patch (RFC 7386) and JSON Patch (RFC 6902) over plain JSON values.

import { apiError } from './errors.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export type JsonObject = { [k: string]: JsonValue };

export function isJsonObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function clone<T extends JsonValue>(v: T): T {
  return structuredClone(v);
}

/** RFC 7386. A non-object patch replaces the target. */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return clone(patch);
  const out: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function parsePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw apiError(422, `invalid JSON pointer: "${ptr}"`);
  return ptr
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function deepEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** JSON with sorted object keys, for equality comparisons. */
export function canonicalJson(v: JsonValue | undefined): string {
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isJsonObject(v)) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

interface Parent {
  container: JsonObject | JsonValue[];
  key: string;
}

function resolveParent(doc: JsonValue, tokens: string[], op: string, ptr: string): Parent {
  let cur: JsonValue = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i] ?? '';
    let next: JsonValue | undefined;
    if (Array.isArray(cur)) {
      const idx = Number(t);
      if (!/^(0|[1-9][0-9]*)$/.test(t) || idx >= cur.length) throw missing(op, ptr);
      next = cur[idx];
    } else if (isJsonObject(cur)) {
      next = Object.prototype.hasOwnProperty.call(cur, t) ? cur[t] : undefined;
    }
    if (next === undefined || next === null || typeof next !== 'object') throw missing(op, ptr);
    cur = next;
  }
  if (cur === null || typeof cur !== 'object') throw missing(op, ptr);
  return { container: cur, key: tokens[tokens.length - 1] ?? '' };
}

function missing(op: string, ptr: string): Error {
  return apiError(422, `${op} operation does not apply: doc is missing path: "${ptr}": missing value`);
}

function getAt(doc: JsonValue, ptr: string, op: string): JsonValue {
  const tokens = parsePointer(ptr);
  if (tokens.length === 0) return doc;
  const { container, key } = resolveParent(doc, tokens, op, ptr);
  if (Array.isArray(container)) {
    const idx = Number(key);
    if (!/^(0|[1-9][0-9]*)$/.test(key) || idx >= container.length) throw missing(op, ptr);
    return container[idx] as JsonValue;
  }
  if (!Object.prototype.hasOwnProperty.call(container, key)) throw missing(op, ptr);
  return container[key] as JsonValue;
}

function removeAt(doc: JsonValue, ptr: string, op: string): JsonValue {
  const tokens = parsePointer(ptr);
  if (tokens.length === 0) throw apiError(422, `${op} operation cannot remove the document root`);
  const { container, key } = resolveParent(doc, tokens, op, ptr);
  if (Array.isArray(container)) {
    const idx = Number(key);
    if (!/^(0|[1-9][0-9]*)$/.test(key) || idx >= container.length) throw missing(op, ptr);
    return container.splice(idx, 1)[0] as JsonValue;
  }
  if (!Object.prototype.hasOwnProperty.call(container, key)) throw missing(op, ptr);
  const old = container[key] as JsonValue;
  delete container[key];
  return old;
}

function addAt(doc: JsonValue, ptr: string, value: JsonValue, op: string): JsonValue {
  const tokens = parsePointer(ptr);
  if (tokens.length === 0) return value;
  const { container, key } = resolveParent(doc, tokens, op, ptr);
  if (Array.isArray(container)) {
    if (key === '-') {
      container.push(value);
    } else {
      const idx = Number(key);
      if (!/^(0|[1-9][0-9]*)$/.test(key) || idx > container.length) throw missing(op, ptr);
      container.splice(idx, 0, value);
    }
  } else {
    container[key] = value;
  }
  return doc;
}

const MAX_OPS = 10_000;

/** RFC 6902 with add, remove, replace, move, copy, test. Errors are 400 (malformed) / 422 (not applicable). */
export function jsonPatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!Array.isArray(patch)) throw apiError(400, 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  if (patch.length > MAX_OPS) throw apiError(422, `The allowed maximum operations in a JSON patch is ${MAX_OPS}`);
  let doc = clone(target);
  for (const rawOp of patch) {
    if (!isJsonObject(rawOp)) throw apiError(400, 'invalid JSON patch operation');
    const op = rawOp.op;
    const path = rawOp.path;
    if (typeof op !== 'string' || typeof path !== 'string') throw apiError(400, 'JSON patch operation needs "op" and "path"');
    switch (op) {
      case 'add':
        if (!('value' in rawOp)) throw apiError(400, `add operation missing value`);
        doc = addAt(doc, path, clone(rawOp.value as JsonValue), op);
        break;
      case 'remove':
        removeAt(doc, path, op);
        break;
      case 'replace': {
        if (!('value' in rawOp)) throw apiError(400, `replace operation missing value`);
        if (parsePointer(path).length === 0) {
          doc = clone(rawOp.value as JsonValue);
        } else {
          removeAt(doc, path, op);
          doc = addAt(doc, path, clone(rawOp.value as JsonValue), op);
        }
        break;
      }
      case 'move':
      case 'copy': {
        const from = rawOp.from;
        if (typeof from !== 'string') throw apiError(400, `${op} operation missing from`);
        const v = op === 'move' ? removeAt(doc, from, op) : clone(getAt(doc, from, op));
        doc = addAt(doc, path, v, op);
        break;
      }
      case 'test': {
        const actual = getAt(doc, path, op);
        if (!deepEqual(actual, rawOp.value as JsonValue)) {
          throw apiError(422, `testing value ${path} failed: test failed`);
        }
        break;
      }
      default:
        throw apiError(400, `Unexpected kind: ${op}`);
    }
  }
  return doc;
}
