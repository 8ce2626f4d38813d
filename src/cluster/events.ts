// Kubernetes Events on Ingresses, so `kubectl describe ingress` shows what happened to it:
// Warnings for translation problems (why a rule is not served), Normal ones for what went
// right (Sync: first served or changed; CertificateIssued / CertificateRenewed). Rate-limited twice: the same problem on the same object at most once per
// `repeatAfterMs`, and at most `perSecond` events overall (a burst of bad objects must not
// flood the API server).

import { randomBytes } from 'node:crypto';
import type { ObjectRef, Problem } from '../model/types.ts';
import type { Logger } from '../observe/log.ts';
import type { KubeApi } from '../sources/kubernetes/api.ts';

export interface EventRecorderOptions {
  api: KubeApi;
  log: Logger;
  component: string;
  instance: string;
  repeatAfterMs?: number; // default 10 min
  perSecond?: number; // default 5
  /** uid lookup, so the event attaches to the right incarnation of the object. */
  uidOf?: (namespace: string, name: string) => string | undefined;
}

export class EventRecorder {
  private readonly opts: EventRecorderOptions;
  private readonly lastSent = new Map<string, number>();
  private tokens: number;
  private refilledAt = Date.now();
  sent = 0;
  dropped = 0;

  constructor(opts: EventRecorderOptions) {
    this.opts = opts;
    this.tokens = opts.perSecond ?? 5;
  }

  /** Records Warning events for problems not reported recently. Never throws; failures are logged. */
  record(problems: readonly Problem[]): void {
    for (const p of problems) this.recordEvent(p.object, 'Warning', p.reason, p.message);
  }

  /**
   * One event on an Ingress (or the --nginx-configmap ConfigMap), unless the same one was sent within `repeatAfterMs` or the rate
   * is used up. Never throws; failures are logged.
   */
  recordEvent(object: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): void {
    if ((object.kind !== 'Ingress' && object.kind !== 'ConfigMap') || !object.namespace) return;
    const now = Date.now();
    const repeat = this.opts.repeatAfterMs ?? 600_000;
    const key = `${object.namespace}/${object.name}/${type}/${reason}/${message}`;
    const last = this.lastSent.get(key);
    if (last !== undefined && now - last < repeat) return;
    if (!this.take(now)) {
      this.dropped++;
      return;
    }
    this.lastSent.set(key, now);
    void this.post(object, type, reason, message, now);
    if (this.lastSent.size > 50_000) {
      for (const [k, t] of this.lastSent) if (now - t >= repeat) this.lastSent.delete(k);
    }
  }

  private take(now: number): boolean {
    const rate = this.opts.perSecond ?? 5;
    this.tokens = Math.min(rate, this.tokens + ((now - this.refilledAt) / 1000) * rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private async post(object: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string, now: number): Promise<void> {
    const ns = object.namespace;
    const time = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const ingress = object.kind === 'Ingress';
    const uid = ingress ? this.opts.uidOf?.(ns, object.name) : undefined;
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${object.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: { apiVersion: ingress ? 'networking.k8s.io/v1' : 'v1', kind: object.kind, namespace: ns, name: object.name, ...(uid ? { uid } : {}) },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: time,
      lastTimestamp: time,
      source: { component: this.opts.component },
      reportingComponent: this.opts.component,
      reportingInstance: this.opts.instance,
    };
    try {
      await this.opts.api.request('POST', `/api/v1/namespaces/${ns}/events`, { body: event, timeoutMs: 10_000 });
      this.sent++;
    } catch (err) {
      this.opts.log.debug('could not record event', { ingress: `${ns}/${object.name}`, err: (err as Error).message });
    }
  }
}
