// Entry point of a proxy worker process (forked by the primary through node:cluster).
import '../async-context-frame.ts'; // first: see there
import { runWorker } from './worker.ts';

await runWorker();
