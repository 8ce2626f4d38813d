// HTTP-01 challenge tokens that every replica answers.
//
// The CA validates against whichever replica the load balancer picks (several times, from
// several places), but only the leader places orders. So the leader publishes each token and
// its key authorization in one small Opaque Secret in the pod's namespace, and every replica
// watches that single Secret and answers `GET /.well-known/acme-challenge/<token>` from memory.
//
// Why a watch rather than polling the Secret every second: propagation takes milliseconds
// instead of up to a second (the leader waits for it before telling the CA to validate), and
// an idle cluster costs one open watch per replica instead of one GET per replica per second
// forever. The watch is the same resilient list+watch the Kubernetes source uses
// (`ResilientInformer`: list-watch.ts, client-node's rules, restarted with backoff on every failure),
// narrowed to the one Secret by `fieldSelector=metadata.name=<name>` in one namespace, feeding
// a private Store so it never mixes with the routing objects. (The main Secret watch only sees
// `type=kubernetes.io/tls`, so it cannot carry this Opaque Secret.)

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Store } from '../store/store.ts';
import type { Secret } from '../store/types.ts';
import type { Logger } from '../observe/log.ts';
import type { KubeApi } from '../sources/kubernetes/api.ts';
import { ResilientInformer, type BackoffOptions } from '../sources/kubernetes/informer.ts';
import type { ResourceSpec } from '../sources/kubernetes/resources.ts';
import { b64, mutateSecret } from './secrets.ts';

export const ACME_CHALLENGE_PATH = '/.well-known/acme-challenge/';
export const DEFAULT_CHALLENGE_SECRET = 'portico-acme-challenges';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'portico';

/** ACME tokens are base64url (RFC 8555 §8.3); they double as Secret data keys. */
const TOKEN_RE = /^[A-Za-z0-9_-]{1,256}$/;

export function isValidToken(token: string): boolean {
  return TOKEN_RE.test(token);
}

/** What the HTTP listener needs: a synchronous, allocation-free lookup. */
export interface ChallengeLookup {
  lookup(token: string): string | undefined;
}

export interface ChallengeStoreOptions {
  log: Logger;
  /** Without an API there is no watch; content comes from `apply()` only (tests, file mode). */
  api?: KubeApi;
  namespace?: string;
  /** Secret name; default `portico-acme-challenges`. */
  name?: string;
  backoff?: BackoffOptions;
}

/** The tokens this replica answers, kept in sync with the challenge Secret. */
export class ChallengeStore implements ChallengeLookup {
  readonly namespace: string;
  readonly name: string;
  private tokens: ReadonlyMap<string, string> = new Map();
  private readonly listeners = new Set<() => void>();
  private readonly log: Logger;
  private readonly informer: ResilientInformer | undefined;
  private readonly privateStore = new Store();
  private unsubscribe: (() => void) | undefined;

  constructor(opts: ChallengeStoreOptions) {
    this.log = opts.log.child({ component: 'acme-challenges' });
    this.namespace = opts.namespace ?? 'default';
    this.name = opts.name ?? DEFAULT_CHALLENGE_SECRET;
    if (opts.api) {
      const spec: ResourceSpec = {
        kind: 'Secret',
        apiVersion: 'v1',
        prefix: '/api/v1',
        plural: 'secrets',
        namespaced: true,
        fieldSelector: `metadata.name=${this.name}`,
      };
      this.informer = new ResilientInformer({
        api: opts.api,
        store: this.privateStore,
        log: this.log,
        spec,
        namespace: this.namespace,
        ...(opts.backoff ? { backoff: opts.backoff } : {}),
      });
    }
  }

  /** Starts the watch (no-op without an API). Does not wait: see `whenSynced()`. */
  start(): void {
    if (!this.informer || this.unsubscribe) return;
    const key = `${this.namespace}/${this.name}`;
    this.unsubscribe = this.privateStore.subscribe((c) => {
      if (c.kind === 'Secret' && c.key === key) this.apply(c.current as Secret | undefined);
    });
    this.informer.start();
  }

  whenSynced(): Promise<void> {
    return this.informer ? this.informer.whenSynced() : Promise.resolve();
  }

  get synced(): boolean {
    return this.informer ? this.informer.synced : true;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.informer?.stop();
  }

  /** Replaces every token with the content of `secret` (undefined = no tokens). */
  apply(secret: Secret | undefined): void {
    const next = new Map<string, string>();
    for (const [token, value] of Object.entries(secret?.data ?? {})) {
      if (!isValidToken(token) || typeof value !== 'string') continue;
      next.set(token, Buffer.from(value, 'base64').toString('utf8'));
    }
    this.tokens = next;
    this.log.debug('challenge tokens updated', { tokens: next.size });
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.log.warn('challenge listener failed', { err: (err as Error).message });
      }
    }
  }

  lookup(token: string): string | undefined {
    return this.tokens.get(token);
  }

  /** True when `token` is answered (with exactly `keyAuthorization`, when given). */
  has(token: string, keyAuthorization?: string): boolean {
    const v = this.tokens.get(token);
    return v !== undefined && (keyAuthorization === undefined || v === keyAuthorization);
  }

  get size(): number {
    return this.tokens.size;
  }

  /** Called after every change of the token set. Returns an unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once this replica answers `token` with `keyAuthorization`; rejects after `timeoutMs`. */
  waitFor(token: string, keyAuthorization: string, timeoutMs: number): Promise<void> {
    if (this.has(token, keyAuthorization)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        off();
        if (err) reject(err);
        else resolve();
      };
      const off = this.subscribe(() => {
        if (this.has(token, keyAuthorization)) done();
      });
      const timer = setTimeout(
        () => done(new Error(`challenge token did not appear in Secret ${this.namespace}/${this.name} within ${timeoutMs} ms (is the Secret watch working?)`)),
        timeoutMs,
      );
    });
  }
}

export interface ChallengePublisherOptions {
  api: KubeApi;
  namespace: string;
  name?: string;
  log: Logger;
}

/**
 * The leader's side: adds and removes tokens in the challenge Secret. Writes are serialised
 * (acme-client satisfies the authorizations of an order concurrently, and several orders may
 * run at once), each a read-modify-write with optimistic concurrency.
 */
export class ChallengePublisher {
  readonly namespace: string;
  readonly name: string;
  private readonly api: KubeApi;
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ChallengePublisherOptions) {
    this.api = opts.api;
    this.namespace = opts.namespace;
    this.name = opts.name ?? DEFAULT_CHALLENGE_SECRET;
    this.log = opts.log.child({ component: 'acme-challenges' });
  }

  publish(token: string, keyAuthorization: string): Promise<void> {
    if (!isValidToken(token)) return Promise.reject(new Error('the CA sent a challenge token that is not base64url'));
    return this.edit((data) => {
      const value = b64(keyAuthorization);
      if (data[token] === value) return false;
      data[token] = value;
      return true;
    });
  }

  remove(token: string): Promise<void> {
    return this.edit((data) => {
      if (!(token in data)) return false;
      delete data[token];
      return true;
    });
  }

  /** Drops every token (a new leader clears what a crashed one left behind). */
  clear(): Promise<void> {
    return this.edit((data) => {
      let changed = false;
      for (const k of Object.keys(data)) {
        delete data[k];
        changed = true;
      }
      return changed;
    });
  }

  private edit(change: (data: Record<string, string>) => boolean): Promise<void> {
    const run = async () => {
      const written = await mutateSecret(this.api, this.namespace, this.name, (current) => {
        const data = { ...(current?.data ?? {}) };
        if (!change(data)) return undefined;
        if (current === undefined) {
          return {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: this.name, namespace: this.namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
            type: 'Opaque',
            data,
          };
        }
        return { ...current, data };
      });
      this.log.debug('challenge Secret written', { secret: `${this.namespace}/${this.name}`, tokens: Object.keys(written?.data ?? {}).length });
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p.then(() => undefined);
  }
}

/**
 * Answers `GET|HEAD /.well-known/acme-challenge/<token>` when the token is one of ours and
 * returns true; returns false for everything else, which then goes through normal routing (so
 * another solver, e.g. cert-manager's, can still be routed to by an Ingress). Plain HTTP,
 * never redirected.
 */
export function serveAcmeChallenge(challenges: ChallengeLookup, req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url;
  if (url === undefined || !url.startsWith(ACME_CHALLENGE_PATH)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const q = url.indexOf('?');
  const token = url.slice(ACME_CHALLENGE_PATH.length, q === -1 ? undefined : q);
  if (!isValidToken(token)) return false;
  const keyAuthorization = challenges.lookup(token);
  if (keyAuthorization === undefined) return false;
  const body = Buffer.from(keyAuthorization, 'utf8');
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
