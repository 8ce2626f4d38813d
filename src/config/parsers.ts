// Small typed parsers for flag values.

import { isIP } from 'node:net';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** '500ms', '5s', '1.5m', '2h' → milliseconds; a bare number is seconds. undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
  return Number.isFinite(value) ? Math.round(value) : undefined;
}

/** 'a.b.c.d/n', 'v6/n' or a bare address → {address, prefix, family}; undefined if invalid. */
export function parseCidr(text: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  return { address, prefix, family };
}

/** nginx's size syntax (client_max_body_size): bytes, or a number with k/K, m/M, g/G. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d{1,12})([kKmMgG]?)$/.exec(text.trim());
  if (m === null) return undefined;
  const unit = m[2]!.toLowerCase();
  const n = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
  return Number.isSafeInteger(n) ? n : undefined;
}
