// HTTP basic authentication (ingress-nginx auth-type: basic, nginx's auth_basic): the
// Authorization header's user and password are checked against the route's users (from the
// auth-secret); anything else gets 401 with `WWW-Authenticate: Basic realm="<auth-realm>"`.
//
// Hashes: {SHA} (base64 SHA-1) is cheap and checked in line. bcrypt costs ~73 ms of CPU per
// check at cost 10 (bcryptjs's "async" compare still runs in slices of up to 100 ms on the
// calling thread) and apr1 (Apache MD5, 1000 rounds in JavaScript) 1-2 ms: checked in line,
// a flood of wrong apr1 passwords held the event loop and the p99 of every other route went
// from 11 ms to 1.8 s (bench/abuse.ts, scenario basic). Two measures instead:
//   1. successes are remembered per user entry as SHA-256 of the password, and by the exact
//      Authorization value (BasicAuthVerifier.tokens), for CACHE_TTL_MS after the last request
//      that used them, so a client sending the same header again is checked with one Map
//      lookup, synchronously, and a user active during a flood of wrong passwords never has to
//      queue behind it;
//   2. uncached bcrypt and apr1 checks run on one worker thread with a bounded queue
//      (MAX_QUEUED); when it is full the request gets 503 rather than queueing without end
//      (a flood of wrong passwords costs the attacker a 503, not everyone else their latency).
//      One client address holds at most MAX_QUEUED_PER_CLIENT places of it, so a flood from
//      one address leaves the rest of the queue to everyone else's logins.
// Failures are never cached (a later correct password must pass), and passwords, hashes and
// digests never reach logs or problems.

import { createHash, hash, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { BasicAuth, BasicAuthUser } from '../../model/types.ts';
import type { InboundHead } from '../inbound.ts';

/** How long a verified (user, hash, password) stays verified without a new check. */
export const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;
/** bcrypt and apr1 checks waiting or running on the worker; beyond it requests get 503. */
export const MAX_QUEUED = 64;
/** Places of that queue one client address may hold at once; beyond, its checks get 503. */
export const MAX_QUEUED_PER_CLIENT = 8;
/**
 * Longest a check waits on the worker before it starts; later ones are dropped (503). 64
 * queued bcrypt checks take 5 s on an idle core, and past 15 s when the pod's cores are busy
 * (bench/abuse.ts: a flood of wrong bcrypt passwords left requests unanswered for 15 s).
 */
export const MAX_WAIT_MS = 2_000;

/** `Basic realm="..."`: the realm was stripped of quotes, backslashes and controls by the model. */
export function challengeOf(auth: BasicAuth): string {
  return `Basic realm="${auth.realm}"`;
}

/** The first Authorization header's value as sent, or null. */
function authorizationOf(headers: readonly string[]): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') return headers[i + 1]!;
  }
  return null;
}

/** An Authorization value's Basic credentials, or null when not Basic. */
function credentialsOf(raw: string): { user: string; password: string } | null {
  const value = raw.trim();
  if (value.length < 6 || value.slice(0, 6).toLowerCase() !== 'basic ') return null;
  const token = value.slice(6).trim();
  if (token.length > 4096 || !/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return null;
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The Authorization header's credentials, or null when absent or not Basic. */
export function basicCredentials(headers: readonly string[]): { user: string; password: string } | null {
  const raw = authorizationOf(headers);
  return raw === null ? null : credentialsOf(raw);
}

/** Runs the slow hashes' compares (bcrypt, apr1) off the event loop; one per proxy. */
export interface SlowHashChecker {
  /** Resolves with the comparison's result; rejects when the checker failed. */
  compare(password: string, hash: string): Promise<boolean>;
  /** Checks waiting or running. */
  readonly queued: number;
  close(): Promise<void>;
}

// The worker's whole program: CommonJS (eval workers are), bcryptjs and apache-md5 found by
// absolute path. apr1 hashes compare as the strings apache-md5 computes (constant time). A
// check whose start deadline has passed is not run (answered { expired: true }).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { timingSafeEqual } = require('node:crypto');
const bcrypt = require(workerData.bcrypt);
const apr1 = require(workerData.apr1);
const same = (a, b) => { const x = Buffer.from(a), y = Buffer.from(b); return x.length === y.length && timingSafeEqual(x, y); };
parentPort.on('message', (m) => {
  if (Date.now() >= m.until) return parentPort.postMessage({ id: m.id, ok: false, expired: true });
  let ok = false;
  try { ok = m.hash.startsWith('$apr1$') ? same(apr1(m.password, m.hash), m.hash) : bcrypt.compareSync(m.password, m.hash); } catch { ok = false; }
  parentPort.postMessage({ id: m.id, ok });
});
`;

/** One worker thread, started on the first check, restarted after a crash. */
export class WorkerHashChecker implements SlowHashChecker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (ok: boolean) => void; reject: (err: Error) => void }>();
  private readonly maxWaitMs: number;

  /** `maxWaitMs`: how long a check may wait for the worker before it is dropped (tests: 0). */
  constructor(opts: { maxWaitMs?: number } = {}) {
    this.maxWaitMs = opts.maxWaitMs ?? MAX_WAIT_MS;
  }

  get queued(): number {
    return this.pending.size;
  }

  compare(password: string, hash: string): Promise<boolean> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<boolean>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, password, hash, until: Date.now() + this.maxWaitMs });
      // a worker with checks to do keeps the process alive; an idle one does not
      if (this.pending.size === 1) worker.ref();
    });
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker;
    const require = createRequire(import.meta.url);
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcrypt: require.resolve('bcryptjs'), apr1: require.resolve('apache-md5') } });
    w.unref();
    w.on('message', (m: { id: number; ok: boolean; expired?: boolean }) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.expired === true) p.reject(new Error('waited too long for the hash worker'));
      else p.resolve(m.ok === true);
    });
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = null;
      const all = [...this.pending.values()];
      this.pending.clear();
      for (const p of all) p.reject(err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`basic-auth hash worker exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w !== null) await w.terminate();
  }
}

function sha256(text: string): Buffer {
  // the one-shot form: no Hash object per call (this runs for every request of a cached user)
  return hash('sha256', text, 'buffer');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // timingSafeEqual needs equal lengths; comparing x with itself keeps the time the same
  return x.length === y.length ? timingSafeEqual(x, y) : (timingSafeEqual(x, x), false);
}

/** Longest Authorization value the fast path keeps (longer ones take the digest path). */
const TOKEN_MAX = 512;

/** Checks credentials for basic-auth stages: the success caches and the slow-hash checker. */
export class BasicAuthVerifier {
  // keyed by the user entry itself (one object per user and config): no key string to build
  // and hash per request; a re-translated Ingress starts with fresh entries
  private readonly cache = new Map<BasicAuthUser, { digest: Buffer; until: number }>();
  // The fast path in front of it: the Authorization value of a success, as the client sent
  // it, to its user entry. A hit is one Map lookup by that string: no base64 decoding, no
  // SHA-256, no constant-time compare (which made a cached check cost 1.16x the instructions
  // of a plain request). The Map hashes the whole value and compares characters only with a
  // stored value of the same hash, so its timing tells nothing about a stored credential.
  // The values are credentials, as the request's own headers are while it is in flight; they
  // never leave this Map (nginx's auth_request cache keyed by $http_authorization keeps them
  // the same way).
  private readonly tokens = new Map<string, { entry: BasicAuthUser; until: number }>();
  private readonly slowHashes: SlowHashChecker;
  private readonly now: () => number;
  /** Counters for tests and metrics. */
  readonly stats = { cacheHits: 0, slowChecks: 0, overloaded: 0, clientOverloaded: 0 };
  /** Slow checks waiting or running per client address (only addresses with some). */
  private readonly perClient = new Map<string, number>();

  constructor(opts: { slowHashes?: SlowHashChecker; now?: () => number } = {}) {
    this.slowHashes = opts.slowHashes ?? new WorkerHashChecker();
    this.now = opts.now ?? Date.now;
  }

  /**
   * Whether `authorization` (the header's value as sent) passed for one of `users` within the
   * TTL; a hit restarts the TTL.
   */
  known(authorization: string, users: ReadonlyMap<string, BasicAuthUser>): boolean {
    const hit = this.tokens.get(authorization);
    if (hit === undefined) return false;
    const now = this.now();
    // the entry must be this route's (another Secret may have a user of the same name)
    if (hit.until <= now || users.get(hit.entry.user) !== hit.entry) return false;
    hit.until = now + CACHE_TTL_MS;
    this.stats.cacheHits++;
    return true;
  }

  /**
   * 0 when `user`'s `password` matches, 401 when not, 503 when the worker is overloaded or
   * failed. `authorization`: the header's value, remembered for known() on a success.
   */
  check(entry: BasicAuthUser, password: string, authorization = '', client = ''): number | Promise<number> {
    const key = entry;
    const digest = sha256(password);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      const now = this.now();
      if (hit.until > now && timingSafeEqual(hit.digest, digest)) {
        // sliding: an active user stays verified (the entry is the same hash: a changed
        // Secret makes new entries, so this is as good as a new check)
        hit.until = now + CACHE_TTL_MS;
        this.stats.cacheHits++;
        this.rememberToken(authorization, entry, now);
        return 0;
      }
    }
    const stored = entry.hash;
    if (stored.startsWith('{SHA}')) {
      const ok = sameText('{SHA}' + createHash('sha1').update(password).digest('base64'), stored);
      return ok ? this.remember(key, digest, authorization) : 401;
    }
    // bcrypt and apr1
    if (this.slowHashes.queued >= MAX_QUEUED) {
      this.stats.overloaded++;
      return 503;
    }
    const held = this.perClient.get(client) ?? 0;
    if (held >= MAX_QUEUED_PER_CLIENT) {
      this.stats.clientOverloaded++;
      return 503;
    }
    this.perClient.set(client, held + 1);
    this.stats.slowChecks++;
    const done = (): void => {
      const n = this.perClient.get(client) ?? 1;
      if (n <= 1) this.perClient.delete(client);
      else this.perClient.set(client, n - 1);
    };
    return this.slowHashes.compare(password, stored).then(
      (ok) => (done(), ok ? this.remember(key, digest, authorization) : 401),
      () => (done(), 503),
    );
  }

  private remember(key: BasicAuthUser, digest: Buffer, authorization: string): number {
    if (this.cache.size >= CACHE_MAX) {
      // drop the oldest entry (Map keeps insertion order)
      const first = this.cache.keys().next();
      if (first.done !== true) this.cache.delete(first.value);
    }
    this.cache.delete(key);
    const now = this.now();
    this.cache.set(key, { digest, until: now + CACHE_TTL_MS });
    this.rememberToken(authorization, key, now);
    return 0;
  }

  private rememberToken(authorization: string, entry: BasicAuthUser, now: number): void {
    if (authorization === '' || authorization.length > TOKEN_MAX) return;
    if (this.tokens.size >= CACHE_MAX) {
      const first = this.tokens.keys().next();
      if (first.done !== true) this.tokens.delete(first.value);
    }
    this.tokens.delete(authorization);
    // a copy (every UTF-16 code unit as it was): the value may be a slice of a larger string,
    // which the Map would otherwise keep alive
    this.tokens.set(Buffer.from(authorization, 'utf16le').toString('utf16le'), { entry, until: now + CACHE_TTL_MS });
  }

  close(): Promise<void> {
    this.cache.clear();
    this.tokens.clear();
    return this.slowHashes.close();
  }
}

// Users by name, built once per BasicAuth (every route of an Ingress shares one).
const byName = new WeakMap<BasicAuth, Map<string, BasicAuthUser>>();
function usersOf(auth: BasicAuth): Map<string, BasicAuthUser> {
  let m = byName.get(auth);
  if (m === undefined) {
    m = new Map();
    for (const u of auth.users) if (!m.has(u.user)) m.set(u.user, u);
    byName.set(auth, m);
  }
  return m;
}

/** The stage: 0 for a known user with the right password, else 401 (or 503, see above). */
export function basicAuthStage(auth: BasicAuth, verifier: BasicAuthVerifier): (head: InboundHead) => number | Promise<number> {
  const users = usersOf(auth);
  return (head) => {
    const authorization = authorizationOf(head.headers);
    if (authorization === null) return 401;
    if (verifier.known(authorization, users)) return 0;
    const cred = credentialsOf(authorization);
    if (cred === null) return 401;
    const entry = users.get(cred.user);
    if (entry === undefined) return 401;
    return verifier.check(entry, cred.password, authorization, head.clientIp);
  };
}
