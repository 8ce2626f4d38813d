// List, then watch from the list's resourceVersion, for one collection: client-node 2.0.1's
// ListWatch (`dist/cache.js`) and Watch (`dist/watch.js`), same rules, without the library:
// its cache.js imports every generated model (for one no-op string serialisation; about
// 17 MiB RSS per process), and its Watch goes through fetch() and web streams, several times
// the CPU and garbage of undici's request() for the same bytes.
//
// Rules (LIBRARIES.md §2.1–2.2): without a resourceVersion, list and apply the list as a diff
// (a `delete` for each vanished object, `add`/`update` for the rest; `update` only when the
// resourceVersion changed), then watch from the list's resourceVersion. A 410 (HTTP status or
// ERROR event) clears the resourceVersion, so the next round relists. No bytes for 30 s abort
// the watch and re-watch at once from the same version; a stream the server ends cleanly
// re-watches after a delay that doubles from 1 s to 30 s while no events arrive. Any other
// failure (a failed list, a refused or reset connection, another status) goes to `error` and
// stops: the caller restarts with `start()`, which keeps the resourceVersion.

import { STATUS_CODES } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
// By path, not the package index (which loads every generated model and API: kubeconfig.ts).
import { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import type { KubeCredentials } from './kubeconfig.ts';
import type { ApiReachability } from './reachability.ts';

/** The fields of an API object this module reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; managedFields?: unknown; annotations?: Record<string, string> };
}

export interface ListWatchHandlers<T extends KubeObject> {
  add(obj: T): void;
  update(obj: T): void;
  delete(obj: T): void;
  error(err: unknown): void;
}

export interface ListWatchOptions<T extends KubeObject> {
  /** The collection path (`/api/v1/services`, `/apis/G/V/namespaces/NS/P`, ...). */
  path: string;
  credentials: KubeCredentials;
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  handlers: ListWatchHandlers<T>;
  /** No bytes for this long end a watch, which is then re-opened (tests shorten it). */
  inactivityMs?: number;
  /** Told whether each watch request got an answer (KubeApi's, shared with other requests). */
  reachability?: ApiReachability;
}

const BASE_RECONNECT_DELAY_MS = 1000;
const MAX_RECONNECT_DELAY_MS = 30_000;
/** Until the response headers, then between chunks (client-node's Watch.requestTimeoutMs). */
export const WATCH_INACTIVITY_MS = 30_000;

/** A failure as watch() reports it. */
interface WatchError {
  name?: string;
  statusCode?: number;
  code?: number;
}

export class ListWatch<T extends KubeObject> {
  private readonly opts: ListWatchOptions<T>;
  /** The objects of the last list plus the events since, by `namespace/name`. */
  private objects = new Map<string, T>();
  private resourceVersion = '';
  private request: AbortController | undefined;
  private stopped = false;
  private reconnectDelayMs = 0;
  private hasConnected = false;

  constructor(opts: ListWatchOptions<T>) {
    this.opts = opts;
  }

  latestResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Resolves once the list is applied and the watch has its response headers (or failed). */
  async start(): Promise<void> {
    this.stopped = false;
    this.reconnectDelayMs = 0;
    this.hasConnected = false;
    await this.done(null);
  }

  stop(): void {
    this.stopped = true;
    this.abort();
  }

  private abort(): void {
    this.request?.abort();
    this.request = undefined;
  }

  /** The watch ended (err null: cleanly) or is being started: decide what comes next. */
  private async done(err: unknown): Promise<void> {
    this.abort();
    const e = (err ?? {}) as WatchError;
    if (err) this.report(e);
    if (err && (e.statusCode === 410 || e.code === 410)) {
      this.resourceVersion = '';
    } else if (err && e.name === 'TimeoutError') {
      // The inactivity timeout already waited 30 s: re-watch at once from the same version.
      this.reconnectDelayMs = 0;
    } else if (err) {
      this.opts.handlers.error(err);
      return;
    }
    if (this.stopped) return;
    if (!this.resourceVersion) {
      let list;
      try {
        list = await this.opts.list();
      } catch (listErr) {
        this.opts.handlers.error(listErr);
        return;
      }
      this.applyList(list.items);
      this.resourceVersion = list.metadata?.resourceVersion ?? '';
    }
    // Bookmarks (as client-go asks for them) keep the resourceVersion current on quiet
    // collections, so a watch re-opened after a timeout or reset resumes instead of meeting
    // 410 Expired and relisting everything.
    const query: Record<string, string> = { resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true' };
    if (this.opts.labelSelector !== undefined) query.labelSelector = this.opts.labelSelector;
    if (this.opts.fieldSelector !== undefined) query.fieldSelector = this.opts.fieldSelector;
    if (this.reconnectDelayMs > 0 && this.hasConnected) await delay(this.reconnectDelayMs);
    if (this.hasConnected) {
      this.reconnectDelayMs = Math.min(this.reconnectDelayMs > 0 ? this.reconnectDelayMs * 2 : BASE_RECONNECT_DELAY_MS, MAX_RECONNECT_DELAY_MS);
    }
    this.hasConnected = true;
    if (this.stopped) return;
    // Known before the request starts, so stop() reaches it even while credentials load.
    const controller = new AbortController();
    this.request = controller;
    try {
      await watch(
        this.opts.credentials,
        this.opts.path,
        query,
        (phase, obj) => this.onEvent(phase, obj as T & { code?: number }),
        (doneErr) => void this.done(doneErr),
        this.opts.inactivityMs,
        controller,
      );
      // watch() resolves once the response headers are in; a failure has aborted the controller
      if (!controller.signal.aborted) this.opts.reachability?.succeeded();
    } catch (watchErr) {
      // Credentials failed before the request (an exec plugin, an unreadable file): client-node
      // would reject start() here; report it like any other failure instead.
      this.opts.handlers.error(watchErr);
    }
  }

  /**
   * A failed watch, for the reachability: a status is the API answering (or shedding load); an
   * abort is ours (stop, a new round) and a timeout only means no bytes came, so neither counts.
   */
  private report(e: WatchError): void {
    const r = this.opts.reachability;
    if (r === undefined) return;
    const status = e.statusCode ?? e.code;
    if (typeof status === 'number') r.status(status);
    else if (e.name !== 'AbortError' && e.name !== 'TimeoutError') r.failed();
  }

  private onEvent(phase: string, obj: T & { code?: number }): void {
    switch (phase) {
      case 'ERROR':
        // 410 Expired: relist when the stream ends (the server closes it).
        if (obj?.code === 410) this.resourceVersion = '';
        return;
      case 'ADDED':
      case 'MODIFIED':
        this.addOrUpdate(obj);
        break;
      case 'DELETED':
        if (this.objects.delete(keyOf(obj))) this.opts.handlers.delete(obj);
        break;
      case 'BOOKMARK':
        break;
    }
    this.reconnectDelayMs = 0;
    this.resourceVersion = obj?.metadata?.resourceVersion ?? '';
  }

  /** A (re)list: deletes for the objects that are gone, then adds and updates. */
  private applyList(items: T[]): void {
    const listed = new Set(items.map(keyOf));
    for (const [key, old] of this.objects) {
      if (listed.has(key)) continue;
      this.objects.delete(key);
      this.opts.handlers.delete(old);
    }
    for (const obj of items) this.addOrUpdate(obj);
  }

  private addOrUpdate(obj: T): void {
    const key = keyOf(obj);
    const found = this.objects.get(key);
    if (!found) {
      this.objects.set(key, obj);
      this.opts.handlers.add(obj);
    } else if (found.metadata?.resourceVersion == null || found.metadata.resourceVersion !== obj.metadata?.resourceVersion) {
      this.objects.set(key, obj);
      this.opts.handlers.update(obj);
    }
  }
}

function keyOf(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/**
 * One watch request (client-node's Watch.watch): `onEvent` for each JSON line, then `onDone`
 * exactly once — null when the server ended the stream, a `TimeoutError` after
 * `inactivityMs` without bytes, an error with `statusCode` for a status other than 200,
 * else the network error (an abort through `controller` included). The returned controller
 * aborts it. Throws only when the credentials cannot be applied.
 */
export async function watch(
  credentials: KubeCredentials,
  path: string,
  query: Record<string, string>,
  onEvent: (phase: string, obj: unknown) => void,
  onDone: (err: unknown) => void,
  inactivityMs = WATCH_INACTIVITY_MS,
  controller = new AbortController(),
): Promise<AbortController> {
  const cluster = credentials.getCurrentCluster();
  if (!cluster) throw new Error('No currently active cluster');
  const url = new URL(cluster.server + path);
  url.searchParams.set('watch', 'true');
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, inactivityMs);
    timer.unref();
  };
  const ctx = new RequestContext(url.toString(), 'GET');
  await credentials.applySecurityAuthentication(ctx);
  let finished = false;
  const finish = (err: unknown) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    controller.abort();
    onDone(err && timedOut ? new DOMException('The operation was aborted due to timeout', 'TimeoutError') : err);
  };
  try {
    arm();
    const dispatcher = ctx.getDispatcher();
    const res = await request(url, { method: 'GET', headers: ctx.getHeaders(), signal: controller.signal, ...(dispatcher ? { dispatcher } : {}) });
    if (res.statusCode !== 200) {
      // The Status body says why (as KubeApi's errors do): "watch /apis/…: 401 Unauthorized".
      const text = await res.body.text().catch(() => '');
      let message: string | undefined;
      try {
        message = (JSON.parse(text) as { message?: unknown }).message as string | undefined;
      } catch {
        message = undefined;
      }
      const reason = typeof message === 'string' && message !== '' ? message : (STATUS_CODES[res.statusCode] ?? 'error');
      throw Object.assign(new Error(`watch ${path}: ${res.statusCode} ${reason}`), { statusCode: res.statusCode });
    }
    arm(); // from here on an inactivity timeout
    let rest = '';
    const line = (text: string) => {
      try {
        const event = JSON.parse(text) as { type: string; object: unknown };
        onEvent(event.type, event.object);
      } catch {
        // A line that is not an event is skipped (as client-node does).
      }
    };
    res.body.setEncoding('utf8');
    res.body.on('data', (chunk: string) => {
      arm();
      rest += chunk;
      for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n')) {
        line(rest.slice(0, i));
        rest = rest.slice(i + 1);
      }
    });
    res.body.on('error', finish);
    res.body.on('end', () => {
      if (rest.trim()) line(rest);
      finish(null);
    });
    res.body.on('close', () => finish(null));
  } catch (err) {
    finish(err);
  }
  return controller;
}
