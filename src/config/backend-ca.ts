// --backend-ca-file: CA certificates (PEM) trusted, besides Node's default store, for backends
// an Ingress asks to verify (portico.dev/backend-tls-verify "true") when their certificates come
// from a private CA. The file is read once, while the settings are parsed at startup, so a bad
// path or a file that is not PEM stops the program before it serves (exit code 2), and worker
// processes get the certificates with the settings instead of reading the file themselves.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Reads a text file; parseSettings takes another one in tests (the chart's mount paths). */
export type ReadTextFile = (path: string) => string;

export const readTextFile: ReadTextFile = (path) => readFileSync(path, 'utf8');

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle file, one PEM block each, joined by newlines. Throws an Error
 * (the caller prefixes the flag) when the file cannot be read, holds no certificate, or holds one
 * that does not parse: the proxy would otherwise fail every verified backend with a TLS error.
 */
export function loadCaBundle(path: string, read: ReadTextFile = readTextFile): string {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new Error(`cannot read ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error(`${JSON.stringify(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new Error(`certificate ${i + 1} of ${blocks.length} in ${JSON.stringify(path)} does not parse: ${(err as Error).message}`);
    }
  });
  return blocks.join('\n') + '\n';
}
