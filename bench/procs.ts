// Process helpers for the benchmarks (Linux /proc): RSS, a process's children (Portico's
// proxy workers), which process accepted a loopback connection, and the memory probe
// (bench/memory-probe.mjs) read-out.

import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident set size in MiB (0 once the process is gone). */
export function rssOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Pids whose parent is `pid`, in ascending order. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out.sort((a, b) => a - b);
}

/** Waits until `pid` has `n` children (Portico's workers) and returns them. */
export async function waitForChildren(pid: number, n: number, timeoutMs = 30_000): Promise<number[]> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
    const kids = childrenOf(pid);
    if (kids.length >= n) return kids;
  }
  throw new Error(`process ${pid} did not get ${n} children within ${timeoutMs} ms`);
}

/** The process (among `pids`) that accepted the loopback connection from `clientPort` to `serverPort`. */
function acceptedBy(clientPort: number, serverPort: number, pids: readonly number[]): number | undefined {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const want = `0100007F:${hex(serverPort)} 0100007F:${hex(clientPort)}`;
  const line = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .find((l) => l.includes(want));
  const inode = line?.trim().split(/\s+/)[9];
  if (!inode || inode === '0') return undefined; // still in the accept queue
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return undefined;
}

/**
 * An HTTP agent whose connections all land in one given process, among several accepting on
 * the same port (Portico's workers share their listeners): it connects until the kernel hands
 * the connection to `pid`, closing the others. One keep-alive connection at a time.
 */
export class PinnedAgent extends http.Agent {
  readonly pid: number;
  private readonly all: readonly number[];

  constructor(pid: number, all: readonly number[]) {
    super({ keepAlive: true, maxSockets: 1 });
    this.pid = pid;
    this.all = all;
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const port = Number(options.port);
    const host = options.host ?? '127.0.0.1';
    void (async () => {
      for (let attempt = 0; attempt < 500; attempt++) {
        const socket = net.connect(port, host);
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        let owner: number | undefined;
        for (let i = 0; i < 200 && owner === undefined; i++) {
          owner = acceptedBy(socket.localPort!, port, this.all);
          if (owner === undefined) await sleep(2);
        }
        if (owner === this.pid) return socket;
        socket.destroy();
      }
      throw new Error(`no connection to port ${port} reached process ${this.pid} in 500 attempts`);
    })().then(
      (socket) => callback?.(null, socket),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

export interface MemoryDetail {
  rss: number;
  heapUsedAfterGc: number;
  heapTotalAfterGc: number;
  external: number;
  arrayBuffers: number;
  heapPhysical: number;
}

/**
 * Signals every pid (each must run with bench/memory-probe.mjs preloaded and
 * PORTICO_MEMORY_PROBE_DIR=dir) and returns what each reported, in MiB.
 */
export async function probeMemory(dir: string, pids: readonly number[], timeoutMs = 20_000): Promise<Map<number, MemoryDetail>> {
  const lines = (pid: number) => (existsSync(`${dir}/${pid}.jsonl`) ? readFileSync(`${dir}/${pid}.jsonl`, 'utf8').trim().split('\n').filter(Boolean) : []);
  const before = new Map(pids.map((p) => [p, lines(p).length]));
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  const out = new Map<number, MemoryDetail>();
  for (const end = Date.now() + timeoutMs; out.size < pids.length && Date.now() < end; await sleep(100)) {
    for (const pid of pids) {
      const all = lines(pid);
      if (out.has(pid) || all.length <= before.get(pid)!) continue;
      const r = JSON.parse(all[all.length - 1]!) as { after: Record<string, number>; heapPhysical: number };
      out.set(pid, {
        rss: rssOf(pid),
        heapUsedAfterGc: r.after.heapUsed!,
        heapTotalAfterGc: r.after.heapTotal!,
        external: r.after.external!,
        arrayBuffers: r.after.arrayBuffers!,
        heapPhysical: r.heapPhysical,
      });
    }
  }
  return out;
}

export function formatDetail(d: MemoryDetail | undefined): string {
  if (!d) return 'no answer';
  return `RSS ${d.rss.toFixed(0)}, heap used ${d.heapUsedAfterGc.toFixed(0)} / total ${d.heapTotalAfterGc.toFixed(0)} (V8 physical ${d.heapPhysical.toFixed(0)}), external ${d.external.toFixed(0)} (array buffers ${d.arrayBuffers.toFixed(0)})`;
}
