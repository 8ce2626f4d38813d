// Client-side timeouts without a timer per socket: exchanges between dispatch and their
// response's 'close' are kept in an intrusive doubly-linked list (a Set with this much churn
// made young exchanges survive scavenges: GC time ×4 under load, measured), and one periodic
// pass over it compares each exchange's progress (request bytes read + response bytes passed
// on) with the last pass:
// - idle: no progress for --idle-timeout → the client socket is destroyed; waiting for the
//   response head is exempt (the upstream header timeout answers 504 then);
// - uploads: a body pausing longer than --client-body-timeout (or --idle-timeout, the shorter)
//   or arriving for longer than the body deadline → 408 (Exchange.uploadTimedOut); a pause
//   because the upstream takes no more of it (undici paused the body) is the upstream's:
//   the route's proxy-send-timeout or --send-timeout → 504 (Exchange.sendTimedOut);
// - queue: waiting longer than --upstream-queue-timeout for an upstream connection → 503.
// The pass ticks at a quarter of the shortest of those limits.

import { PHASE_NEW, PHASE_WAITING, type Exchange } from './exchange.ts';
import type { ProxySettings } from './settings.ts';

export class LiveExchanges {
  private head: Exchange | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Milliseconds between passes. */
  readonly tickMs: number;
  private readonly settings: ProxySettings;

  constructor(settings: ProxySettings) {
    this.settings = settings;
    const st = settings;
    let shortest = 1000 * 4;
    for (const ms of [st.idleTimeoutMs, st.clientBodyTimeoutMs ?? 0, st.clientBodyDeadlineMs ?? 0, st.upstreamQueueTimeoutMs ?? 0, st.sendTimeoutMs ?? 0]) {
      if (ms > 0 && ms < shortest) shortest = ms;
    }
    this.tickMs = Math.max(10, Math.floor(shortest / 4));
    if (st.idleTimeoutMs > 0 || (st.clientBodyTimeoutMs ?? 0) > 0 || (st.clientBodyDeadlineMs ?? 0) > 0 || (st.upstreamQueueTimeoutMs ?? 0) > 0 || (st.sendTimeoutMs ?? 0) > 0) {
      this.timer = setInterval(() => this.pass(), this.tickMs);
      this.timer.unref();
    }
  }

  link(ex: Exchange): void {
    const head = this.head;
    ex.nextLive = head;
    ex.prevLive = null;
    if (head !== null) head.prevLive = ex;
    this.head = ex;
    ex.inLive = true;
  }

  unlink(ex: Exchange): void {
    if (!ex.inLive) return;
    ex.inLive = false;
    const prev = ex.prevLive;
    const next = ex.nextLive;
    if (prev !== null) prev.nextLive = next;
    else this.head = next;
    if (next !== null) next.prevLive = prev;
    ex.prevLive = null;
    ex.nextLive = null;
  }

  /** Stops the passes (close()). */
  stop(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** One pass over the exchanges in flight. */
  pass(): void {
    const st = this.settings;
    const limit = st.idleTimeoutMs;
    // --idle-timeout covers uploads too ("either way"): the shorter of the two applies to them
    const bt = st.clientBodyTimeoutMs ?? 0;
    const bodyLimit = bt > 0 && (limit <= 0 || bt < limit) ? bt : limit;
    const bodyDeadline = st.clientBodyDeadlineMs ?? 0;
    const queueLimit = st.upstreamQueueTimeoutMs ?? 0;
    const sendLimit = (st.sendTimeoutMs ?? 0) > 0 ? st.sendTimeoutMs! : limit;
    const tick = this.tickMs;
    for (let ex = this.head, next: Exchange | null = null; ex !== null; ex = next) {
      next = ex.nextLive;
      if (ex.waitingFor !== null) {
        // waiting for an upstream connection: the queue timeout's business, not the client's
        ex.waitedMs += tick;
        ex.stalledMs = 0;
        if (queueLimit > 0 && ex.waitedMs >= queueLimit) {
          this.unlink(ex);
          ex.queueTimedOut();
        }
        continue;
      }
      // paused on purpose (limit-rate): not idle
      if (ex.awaitingUpstream || ex.throttleTimer !== null) {
        ex.stalledMs = 0;
        continue;
      }
      const sock = ex.req.socket;
      if (sock === null) continue;
      // the body limits hold until the upstream answers: a response under way (gRPC streaming,
      // long uploads the application accepted) is the idle timeout's business only
      const uploading = ex.hasBody && !ex.req.complete && (ex.phase === PHASE_NEW || ex.phase === PHASE_WAITING);
      if (uploading) {
        ex.uploadMs += tick;
        if (bodyDeadline > 0 && ex.uploadMs >= bodyDeadline) {
          this.unlink(ex);
          ex.uploadTimedOut();
          continue;
        }
      }
      const p = sock.bytesRead + ex.bytes;
      if (p !== ex.progress) {
        ex.progress = p;
        ex.stalledMs = 0;
        continue;
      }
      ex.stalledMs += tick;
      const body = ex.upstreamBody;
      if (uploading && body !== null && ex.controller !== null && body.isPaused()) {
        // undici paused the body: the upstream takes no more of it, the client is not to blame
        const send = ex.route?.filters.timeouts?.sendMs ?? sendLimit;
        if (send > 0) {
          if (ex.stalledMs >= send) {
            this.unlink(ex);
            ex.sendTimedOut();
          }
          continue;
        }
      }
      if (uploading && bodyLimit > 0) {
        if (ex.stalledMs >= bodyLimit) {
          this.unlink(ex);
          ex.uploadTimedOut();
        }
        continue;
      }
      if (limit > 0 && ex.stalledMs >= limit) {
        this.unlink(ex);
        ex.idleTimedOut();
        sock.destroy();
      }
    }
  }
}
