// A proxy worker: a replica of the primary's store (snapshot, then numbered change batches),
// its own translation, certificates, challenge tokens and proxy, listening on the shared ports
// (each worker accepts its own connections). It never talks to the API server, and it reports
// no configuration or TLS problems: the primary builds the same configuration and reports
// them once. Its TLS session ticket keys are the primary's, so sessions resume on any worker.

import cluster from 'node:cluster';
import { createLogger, type Logger } from '../observe/log.ts';
import { buildCore, type Core } from '../runtime/core.ts';
import { startDataPlane, type DataPlane } from '../runtime/data-plane.ts';
import { createAccessLog } from '../runtime/access-log.ts';
import { challengeReplica, type ChallengeReplica } from '../runtime/challenges.ts';
import { decodeTicketKeys } from './ticket-keys.ts';
import { ArbiterClient } from '../runtime/rate-limit-arbiter.ts';
import { isPrimaryMessage, Replica, unpack, type InitMessage, type PrimaryMessage, type WorkerMessage } from './protocol.ts';

export async function runWorker(): Promise<void> {
  const id = cluster.worker?.id ?? 0;
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send?.(m);
  };

  let init: InitMessage | undefined;
  let log: Logger = createLogger('info').child({ worker: id });
  let core: Core | undefined;
  let replica: Replica | undefined;
  let challenges: ChallengeReplica | undefined;
  let accessLog: ReturnType<typeof createAccessLog>;
  let data: DataPlane | undefined;
  let starting: Promise<void> | undefined;
  let draining: Promise<void> | undefined;
  let ticketKeys: Buffer | undefined;
  const early: PrimaryMessage[] = [];
  // limit-rps / limit-rpm ask the primary's table; answers bypass the ordered queue below
  const rateArbiter = new ArbiterClient((m) => {
    if (!process.connected || process.send === undefined) return false;
    process.send(m);
    return true;
  });

  const drain = (delayMs: number, graceMs: number, exitCode = 0): Promise<void> => {
    draining ??= (async () => {
      log.info('draining', { delayMs, graceMs });
      try {
        await starting;
        await data?.drain(delayMs, graceMs);
        core?.stop();
        accessLog?.flush();
      } catch (err) {
        log.error('drain failed', { err: err as Error });
        exitCode = 1;
      }
      process.exit(exitCode);
    })();
    return draining;
  };

  const start = async (settings: InitMessage['settings']): Promise<void> => {
    if (!core || !replica) return;
    core.reconciler.start();
    accessLog = createAccessLog(settings, process.stdout, id);
    data = await startDataPlane(core, settings, log, challenges, accessLog, { reusePort: settings.reusePort, rateArbiter });
    // node:cluster gives a worker that listens on a shared port the ticket keys of the first
    // worker that listened on it (tls.Server#_setServerData): after a rotation those are old.
    if (ticketKeys) core.tls.setTicketKeys(ticketKeys);
    core.reconciler.flush();
    send({ t: 'ready', seq: replica.seq, pid: process.pid, httpPort: data.httpPort, httpsPort: data.httpsPort });
  };

  const handle = async (m: PrimaryMessage): Promise<void> => {
    switch (m.t) {
      case 'packed':
        await handle(unpack(m));
        break;
      case 'init': {
        init = m;
        log = createLogger(m.logLevel).child({ worker: id });
        core = await buildCore(m.settings, log, m.fallback, { quietProblems: true });
        // Before the HTTPS listener exists: it is created with these keys.
        ticketKeys = decodeTicketKeys(m.ticketKeys);
        core.tls.setTicketKeys(ticketKeys);
        replica = new Replica(core.store);
        if (m.acme) challenges = challengeReplica(log.child({ component: 'acme' }));
        for (const e of early.splice(0)) await handle(e);
        break;
      }
      case 'snapshot':
        if (!replica || !init) {
          early.push(m);
          break;
        }
        if (!replica.applySnapshot(m)) break; // more parts follow
        if (!starting) {
          const settings = init.settings;
          starting = start(settings).catch((err: unknown) => {
            log.error(`cannot start: ${(err as Error).message}`);
            process.exit(1);
          });
        }
        break;
      case 'batch':
        if (!replica || !core) {
          early.push(m);
          break;
        }
        if (replica.applyBatch(m) > 0 && data) core.reconciler.flush();
        if (data) send({ t: 'ack', seq: replica.seq });
        break;
      case 'challenges':
        if (!init) early.push(m);
        else challenges?.apply(m.secret ?? undefined);
        break;
      case 'ticket-keys':
        if (!core) {
          early.push(m);
          break;
        }
        ticketKeys = decodeTicketKeys(m.keys);
        core.tls.setTicketKeys(ticketKeys);
        break;
      case 'drain':
        await drain(m.delayMs, m.graceMs);
        break;
      case 'retire':
        draining ??= (async () => {
          log.info('handing over to a worker with new settings', { graceMs: m.graceMs });
          try {
            await starting;
            await data?.retire(m.graceMs);
            core?.stop();
            accessLog?.flush();
          } catch (err) {
            log.error('hand-over failed', { err: err as Error });
          }
          process.exit(0);
        })();
        break;
      case 'metrics-req': {
        const metrics = core ? await core.metrics.registry.getMetricsAsJSON() : [];
        // Functions (collect) do not cross the channel; the values do.
        send({ t: 'metrics-res', id: m.id, metrics: JSON.parse(JSON.stringify(metrics)) as typeof metrics });
        break;
      }
    }
  };

  // Messages are handled strictly in order (init builds asynchronously before the snapshot).
  let queue: Promise<void> = Promise.resolve();
  process.on('message', (m: unknown) => {
    if (!isPrimaryMessage(m)) return;
    if (m.t === 'rl-grant') return rateArbiter.onGrant(m);
    queue = queue.then(() => handle(m)).catch((err: unknown) => log.error('worker message failed', { type: m.t, err: err as Error }));
  });
  // The primary coordinates shutdown: a SIGINT to the whole process group (Ctrl-C) is its to
  // handle; a SIGTERM sent to this worker alone drains it (the primary replaces it).
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void drain(init?.settings.shutdownDelayMs ?? 0, init?.settings.shutdownGraceMs ?? 30_000));
  // A send on the closed channel (the primary just died) is reported here; 'disconnect' follows.
  cluster.worker?.on('error', (err: Error) => log.debug('channel to the primary failed', { err }));
  // Without the primary there are no updates and no supervision: stop.
  process.on('disconnect', () => {
    rateArbiter.close();
    if (draining) return;
    log.warn('the primary process is gone; stopping this worker');
    void drain(0, Math.min(init?.settings.shutdownGraceMs ?? 5000, 5000), 1);
  });
  send({ t: 'hello' });
}
