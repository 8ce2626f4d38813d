// Runs the real Pebble ACME test server (Debian package `pebble`: /usr/bin/pebble and
// /usr/bin/pebble-challtestsrv) on free loopback ports, with pebble-challtestsrv as its DNS
// server so every name resolves to 127.0.0.1. HTTP-01 validation goes to
// 127.0.0.1:<httpPort>, the port the caller's challenge server already listens on.

import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caAndLocalhostLeaf, freePort, requireBinary, tempDir } from './helpers.ts';

const INSTALL_HINT =
  'The ACME integration test needs Pebble: install the Debian/Ubuntu package "pebble" (apt-get install -y pebble openssl), which provides /usr/bin/pebble and /usr/bin/pebble-challtestsrv.';

export interface Pebble {
  directoryUrl: string;
  managementUrl: string;
  /** PEM file of the CA that signed Pebble's own HTTPS certificate (for --acme-ca-bundle). */
  caPath: string;
  caPem: string;
  /** GET on the management interface (e.g. `/roots/0`), over HTTPS trusting `caPath`. */
  get(path: string): Promise<{ status: number; body: string }>;
  logs(): string;
  stop(): Promise<void>;
}

export async function startPebble(opts: { httpPort: number; startTimeoutMs?: number }): Promise<Pebble> {
  const pebbleBin = requireBinary('pebble', INSTALL_HINT);
  const challBin = requireBinary('pebble-challtestsrv', INSTALL_HINT);
  requireBinary('openssl', 'Install the "openssl" package.');

  const tmp = tempDir('portico-pebble-');
  const { caPath, certPath, keyPath } = caAndLocalhostLeaf(tmp.dir);
  const [listen, mgmt, tlsPort, dns, dnsMgmt] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(tmp.dir, 'pebble-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${mgmt}`,
        certificate: certPath,
        privateKey: keyPath,
        httpPort: opts.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );

  let output = '';
  const children: ChildProcess[] = [];
  const launch = (bin: string, args: string[], env: NodeJS.ProcessEnv) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const name = bin.split('/').pop();
    child.stdout?.on('data', (d: Buffer) => (output += `[${name}] ${d.toString()}`));
    child.stderr?.on('data', (d: Buffer) => (output += `[${name}] ${d.toString()}`));
    children.push(child);
    return child;
  };
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', killAll);

  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => {
              c.kill('SIGKILL');
            }, 3000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    process.off('exit', killAll);
    tmp.cleanup();
  };

  launch(challBin, ['-dns01', `127.0.0.1:${dns}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsMgmt}`], {});
  const pebble = launch(pebbleBin, ['-config', config, '-dnsserver', `127.0.0.1:${dns}`], {
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
    PEBBLE_AUTHZREUSE: '0',
  });

  const caPem = readFileSync(caPath, 'utf8');
  const agent = new https.Agent({ ca: caPem, keepAlive: false });
  const get = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.get(url, { agent, timeout: 2000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });

  const directoryUrl = `https://127.0.0.1:${listen}/dir`;
  const managementUrl = `https://127.0.0.1:${mgmt}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  for (let i = 0; i < 1000; i++) {
    if (pebble.exitCode !== null) {
      await stop();
      throw new Error(`pebble exited with code ${pebble.exitCode} during start:\n${output}`);
    }
    try {
      const r = await get(directoryUrl);
      if (r.status === 200) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pebble did not answer ${directoryUrl} within ${opts.startTimeoutMs ?? 15_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    directoryUrl,
    managementUrl,
    caPath,
    caPem,
    get: (path: string) => get(managementUrl + path),
    logs: () => output,
    stop,
  };
}
