// OpenSSL cipher lists from annotations (ingress-nginx ssl-ciphers, proxy-ssl-ciphers) and TLS
// protocol lists (proxy-ssl-protocols), checked when the configuration is translated, so that
// a bad value is a problem on its Ingress and never a handshake failure for every client.
//
// A cipher list is checked twice: its characters (OpenSSL's cipher-string alphabet: names,
// `:` separators, `!` `-` `+` prefixes, and for the listener the @STRENGTH / @SECLEVEL=n
// commands ingress-nginx accepts too), then by OpenSSL itself, once, through
// tls.createSecureContext: a list that selects no cipher at all ("no cipher match") is refused
// here. Unknown names inside an otherwise valid list are skipped by OpenSSL, as nginx's
// ssl_ciphers skips them.
//
// TLS 1.3. OpenSSL keeps TLS 1.3 suites apart from the cipher list, and nginx's ssl_ciphers /
// proxy_ssl_ciphers set only the list (TLS 1.2 and below): the TLS 1.3 suites stay OpenSSL's
// three. Node reads names that start with `TLS_` (TLS_AES_128_GCM_SHA256 ...) in the same
// string as TLS 1.3 suites: a list without them leaves TLS 1.3 as nginx does, a list with them
// also restricts TLS 1.3 (which ingress-nginx cannot do).

import tls from 'node:tls';

/** ingress-nginx's ssl-ciphers alphabet: names, `:` separators, `!` `-` `+` prefixes, and @-commands. */
const LISTENER_CHARS = /^[A-Za-z0-9!:+\-_@=]+$/;
/** ingress-nginx's proxy-ssl-ciphers alphabet: no commands. */
const BACKEND_CHARS = /^[A-Za-z0-9!:+\-_]+$/;
/** @-commands: only these two, as ingress-nginx's ssl-ciphers check. */
const COMMAND = /@([A-Za-z]+)(=[^:@]*)?/g;

export type CipherListResult = { readonly ciphers: string } | { readonly invalid: string };

/**
 * An annotation's cipher list, or why it is refused. `listener`: ssl-ciphers (the @STRENGTH and
 * @SECLEVEL=0..5 commands allowed); otherwise proxy-ssl-ciphers (names and operators only).
 */
export function parseCipherList(raw: unknown, listener: boolean): CipherListResult {
  if (typeof raw !== 'string') return { invalid: 'it is not a string' };
  const value = raw.trim();
  if (value === '') return { invalid: 'it is empty' };
  if (value.length > 4096) return { invalid: 'it is longer than 4096 characters' };
  if (!(listener ? LISTENER_CHARS : BACKEND_CHARS).test(value)) {
    return { invalid: `it has characters outside an OpenSSL cipher list (letters, digits, ":", "!", "+", "-", "_"${listener ? ', "@STRENGTH", "@SECLEVEL=n"' : ''})` };
  }
  if (listener) {
    for (const m of value.matchAll(COMMAND)) {
      const [whole, name, arg] = m;
      if (name === 'STRENGTH' && arg === undefined) continue;
      if (name === 'SECLEVEL' && arg !== undefined && /^=[0-5]$/.test(arg)) continue;
      return { invalid: `"${whole}" is not @STRENGTH or @SECLEVEL=0..5` };
    }
    if (/@(?![A-Za-z])/.test(value) || /=/.test(value.replace(COMMAND, ''))) return { invalid: '"@" and "=" only belong in @STRENGTH and @SECLEVEL=n' };
  }
  try {
    tls.createSecureContext({ ciphers: value });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { invalid: code === 'ERR_SSL_NO_CIPHER_MATCH' ? 'OpenSSL finds no cipher it knows in it' : `OpenSSL refuses it (${err instanceof Error ? err.message : String(err)})` };
  }
  return { ciphers: value };
}

/** The TLS versions Portico (Node) can speak, oldest first. */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export type TlsVersionRange = { readonly minVersion: TlsVersion; readonly maxVersion: TlsVersion };

/** Names nginx knows that neither ingress-nginx's proxy-ssl-protocols nor Portico accepts. */
const OLD_PROTOCOLS = new Set(['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1']);

/**
 * ingress-nginx proxy-ssl-protocols: space-separated TLSv1.2 / TLSv1.3 (the only ones its
 * check lets through), as Node's minVersion..maxVersion. Any set of those two is a contiguous
 * range, so nothing is widened or narrowed.
 */
export function parseTlsProtocols(raw: unknown): TlsVersionRange | { readonly invalid: string } {
  if (typeof raw !== 'string') return { invalid: 'it is not a string' };
  const words = raw.split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return { invalid: 'it names no protocol' };
  let v12 = false;
  let v13 = false;
  for (const w of words) {
    if (w === 'TLSv1.2') v12 = true;
    else if (w === 'TLSv1.3') v13 = true;
    else if (OLD_PROTOCOLS.has(w)) return { invalid: `${w} is not available (only TLSv1.2 and TLSv1.3 are, as in ingress-nginx)` };
    else return { invalid: `"${w.length > 40 ? `${w.slice(0, 40)}...` : w}" is not TLSv1.2 or TLSv1.3` };
  }
  return { minVersion: v12 ? 'TLSv1.2' : 'TLSv1.3', maxVersion: v13 ? 'TLSv1.3' : 'TLSv1.2' };
}
