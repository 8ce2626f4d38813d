// Sizes in nginx's syntax (ngx_parse_size, as in client_max_body_size and so ingress-nginx's
// proxy-body-size annotation): a number of bytes, or with a k/K, m/M or g/G suffix for KiB,
// MiB or GiB. No fractions, spaces or other units, as nginx.

const SCALE: Readonly<Record<string, number>> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * '512', '8k', '1m', '2G' → bytes; undefined if invalid or beyond a safe integer. '0' is 0,
 * which nginx (and ingress-nginx's proxy-body-size) reads as "no limit": the caller's to say.
 */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)([kKmMgG])?$/.exec(text);
  if (!m) return undefined;
  const bytes = Number(m[1]) * (m[2] === undefined ? 1 : SCALE[m[2].toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
