// Black-box helpers: run the built program (dist/cli.js) as a real process and talk to it
// over real sockets. Every wait is bounded; every process started here is ended here.

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export interface PorticoProcess {
  child: ChildProcess;
  httpPort: number;
  httpsPort: number;
  healthPort: number;
  /** Everything the process wrote to stderr (structured logs), as parsed JSON lines. */
  logs: Record<string, unknown>[];
  stdout: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the built program and resolves once the `listeners` it logs as listening are up
 * (all three by default; `['health']` for a test of a program that is not ready yet). Ports
 * of listeners not waited for are 0 until then.
 */
export async function startPorticoProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 15_000,
  listeners: readonly string[] = ['http', 'https', 'health'],
  /** A command the program runs under, which execs it (e.g. `taskset -c 0`: one CPU). */
  under: readonly string[] = [],
): Promise<PorticoProcess> {
  const command = [...under, process.execPath];
  const child = spawn(command[0]!, [...command.slice(1), CLI, '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--health-port', '0', '--shutdown-delay', '0s', ...args], {
    // one process unless a test (or PORTICO_WORKERS in the suite's environment) asks for
    // workers: the program's default (auto) would start one worker per CPU of this machine
    env: { PORTICO_WORKERS: '0', ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stdout: string[] = [];
  let errBuf = '';
  let outBuf = '';
  const ports: Record<string, number> = {};
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    outBuf += d;
    let i;
    while ((i = outBuf.indexOf('\n')) >= 0) {
      stdout.push(outBuf.slice(0, i));
      outBuf = outBuf.slice(i + 1);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    errBuf += d;
    let i;
    while ((i = errBuf.indexOf('\n')) >= 0) {
      const line = errBuf.slice(0, i);
      errBuf = errBuf.slice(i + 1);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'listening' && typeof entry.listener === 'string') ports[entry.listener] = Number(entry.port);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  while (listeners.some((l) => ports[l] === undefined)) {
    if (child.exitCode !== null) throw new Error(`portico exited with ${child.exitCode}: ${JSON.stringify(logs)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`portico did not start listening within ${timeoutMs} ms: ${JSON.stringify(logs)}`);
    }
    await sleep(20);
  }
  return {
    child,
    httpPort: ports.http ?? 0,
    httpsPort: ports.https ?? 0,
    healthPort: ports.health ?? 0,
    logs,
    stdout,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value or the time is up (then throws). */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 5000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

export function get(port: number, path: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A backend that answers every request with its name. */
export async function startNamedBackend(name: string): Promise<{ server: http.Server; port: number; hits: number; close(): Promise<void> }> {
  const state = { hits: 0 };
  const server = http.createServer((req, res) => {
    state.hits++;
    const body = `${name} ${req.url}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/**
 * Listening IPv4 TCP sockets on `port` (/proc/net/tcp, Linux: one LISTEN line, state 0A, per
 * socket): node:cluster's shared socket is one, reuse-port workers have one each.
 */
export function listeningSockets(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((l) => l.includes(hex) && / 0A /.test(l)).length;
}
