// Pebble (the Debian package: /usr/bin/pebble and /usr/bin/pebble-challtestsrv) for the ACME
// integration and end-to-end tests. In two steps when needed, because the built program needs
// the ACME directory URL and the CA bundle on its command line before we know which HTTP port
// Pebble must validate on (startPebble does both steps when the port is known):
//
//   const plan = await planPebble();          // CA + Pebble's TLS cert generated, ports chosen
//   … start Portico with plan.directoryUrl and plan.caPath …
//   const pebble = await plan.start({ httpPort });   // HTTP-01 goes to 127.0.0.1:httpPort
//   …
//   await pebble.stop();                     // (or plan.cleanup() if start was never called)
//
// pebble-challtestsrv is Pebble's DNS server and resolves every name to 127.0.0.1. The
// certificate/port helpers come from ./helpers.ts.

import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caAndLocalhostLeaf, freePort, requireBinary, tempDir } from './helpers.ts';

const INSTALL_HINT =
  'The ACME tests need Pebble: install the Debian/Ubuntu package "pebble" (apt-get install -y pebble openssl), which provides /usr/bin/pebble and /usr/bin/pebble-challtestsrv.';

export interface RunningPebble {
  directoryUrl: string;
  managementUrl: string;
  /** GET on the management interface (e.g. `/roots/0`), over HTTPS trusting the generated CA. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** Everything pebble and pebble-challtestsrv printed so far. */
  logs(): string;
  /** Ends both processes (by their child handles) and removes the temporary directory. */
  stop(): Promise<void>;
}

export interface PebblePlan {
  directoryUrl: string;
  managementUrl: string;
  /** PEM file of the CA that signed Pebble's own HTTPS certificate (for --acme-ca-bundle). */
  caPath: string;
  caPem: string;
  start(opts: { httpPort: number; startTimeoutMs?: number }): Promise<RunningPebble>;
  /** Removes the temporary directory (stop() does it too). */
  cleanup(): void;
}

export async function planPebble(): Promise<PebblePlan> {
  const pebbleBin = requireBinary('pebble', INSTALL_HINT);
  const challBin = requireBinary('pebble-challtestsrv', INSTALL_HINT);
  requireBinary('openssl', 'Install the "openssl" package.');

  const tmp = tempDir('portico-pebble-');
  const { caPath, certPath, keyPath } = caAndLocalhostLeaf(tmp.dir);
  const caPem = readFileSync(caPath, 'utf8');
  const [listen, mgmt, tlsPort, dns, dnsMgmt] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const directoryUrl = `https://127.0.0.1:${listen}/dir`;
  const managementUrl = `https://127.0.0.1:${mgmt}`;

  const agent = new https.Agent({ ca: caPem, keepAlive: false });
  const get = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.get(url, { agent, timeout: 2000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });

  const start = async (opts: { httpPort: number; startTimeoutMs?: number }): Promise<RunningPebble> => {
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
      // whole lines only, each with its prefix: a line split over two reads (or cut by the other
      // stream's chunk) must still read as one line to the tests that search the output
      const lines = (stream: NodeJS.ReadableStream | null) => {
        let partial = '';
        stream?.on('data', (d: Buffer) => {
          const text = partial + d.toString();
          const end = text.lastIndexOf('\n');
          if (end < 0) {
            partial = text;
            return;
          }
          for (const line of text.slice(0, end).split('\n')) output += `[${name}] ${line}\n`;
          partial = text.slice(end + 1);
        });
        stream?.on('end', () => {
          if (partial !== '') output += `[${name}] ${partial}\n`;
          partial = '';
        });
      };
      lines(child.stdout);
      lines(child.stderr);
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
              const t = setTimeout(() => c.kill('SIGKILL'), 3000);
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

    const timeoutMs = opts.startTimeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pebble.exitCode !== null || pebble.signalCode !== null) {
        await stop();
        throw new Error(`pebble exited (${pebble.exitCode ?? pebble.signalCode}) during start:\n${output}`);
      }
      try {
        if ((await get(directoryUrl)).status === 200) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`pebble did not answer ${directoryUrl} within ${timeoutMs} ms:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return { directoryUrl, managementUrl, get: (path: string) => get(managementUrl + path), logs: () => output, stop };
  };

  return { directoryUrl, managementUrl, caPath, caPem, start, cleanup: tmp.cleanup };
}

export interface Pebble extends RunningPebble {
  /** PEM file of the CA that signed Pebble's own HTTPS certificate (for --acme-ca-bundle). */
  caPath: string;
  caPem: string;
}

/** Plan and start in one step, when the HTTP-01 port is known up front. */
export async function startPebble(opts: { httpPort: number; startTimeoutMs?: number }): Promise<Pebble> {
  const plan = await planPebble();
  try {
    const running = await plan.start(opts);
    return { ...running, caPath: plan.caPath, caPem: plan.caPem };
  } catch (err) {
    plan.cleanup();
    throw err;
  }
}
