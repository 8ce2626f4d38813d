// Loopback helpers for the benchmarks: a free port, a GET that never throws, stopping a child
// process with a deadline, and the upstream (Debian's nginx with one worker, or a small Node
// server when nginx is missing) that answers "ok" on / and 16 KiB on /16k.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** GET http://127.0.0.1:port/p with Host `host`: the status, 0 on any error (2 s timeout). */
export function get(port: number, host: string, p = '/'): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, headers: { host }, agent: false, timeout: 2000 }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Signal a child and wait for it to exit; SIGKILL after 15 s. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  child.kill(signal);
  await once(child, 'exit');
  clearTimeout(killer);
}

export interface LoopbackUpstream {
  port: number;
  child: ChildProcess;
  name: string;
  /** Stops it (nginx: SIGQUIT, a graceful stop). */
  close(): Promise<void>;
}

/** The upstream in `dir`: nginx (one worker, no master) if installed, else a Node server. */
export async function startUpstream(dir: string): Promise<LoopbackUpstream> {
  const port = await freePort();
  const hasNginx = spawnSync('nginx', ['-v']).status === 0;
  const big = path.join(dir, '16k.bin');
  writeFileSync(big, Buffer.alloc(16384, 'x'));
  let child: ChildProcess;
  if (hasNginx) {
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000000; keepalive_timeout 300s;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen 127.0.0.1:${port} backlog=4096;
    location = /16k { alias ${big}; default_type application/octet-stream; etag off; }
    location / { return 200 "ok\\n"; } } }
`,
    );
    child = spawn('nginx', ['-p', dir, '-c', conf, '-e', `${dir}/nginx.err`], { stdio: 'ignore' });
  } else {
    const code = `const b = require('fs').readFileSync(${JSON.stringify(big)});
require('http').createServer((q, s) => s.end(q.url === '/16k' ? b : 'ok\\n')).listen(${port}, '127.0.0.1')`;
    child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  }
  const name = hasNginx ? 'nginx (1 worker)' : 'a Node http server';
  for (let i = 0; i < 100; i++) {
    if ((await get(port, 'upstream')) === 200) return { port, child, name, close: () => stop(child, hasNginx ? 'SIGQUIT' : 'SIGTERM') };
    await sleep(50);
  }
  await stop(child, 'SIGKILL');
  throw new Error('the upstream did not start');
}

/**
 * The ports a Portico child reports as listening (its `"listening"` log lines on stderr), filled
 * in as they arrive: `{ http, https, health, metrics }` by listener name.
 */
export function listeningPorts(child: ChildProcess): Record<string, number> {
  const ports: Record<string, number> = {};
  let buf = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) >= 0; ) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const e = JSON.parse(line) as { msg?: string; listener?: string; port?: number };
        if (e.msg === 'listening' && e.listener && e.port) ports[e.listener] = e.port;
      } catch {
        /* not JSON */
      }
    }
  });
  return ports;
}
