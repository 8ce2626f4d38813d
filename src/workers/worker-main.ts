// Entry point of a proxy worker process (forked by the primary through node:cluster).
import { runWorker } from './worker.ts';

await runWorker();
