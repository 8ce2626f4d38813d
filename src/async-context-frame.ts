// Imported first by every entry point (cli.ts, workers/worker-main.ts), for its side effect.
//
// Node 24 keeps the async context of callbacks in an "async context frame" class whose
// active implementation it swaps in lazily, the first time anything asks whether frames are
// enabled (the `AsyncLocalStorage` getter of node:async_hooks does). When that swap came
// late, under traffic, V8 had sometimes already optimised Node's per-tick code (`nextTick`,
// `processTicksAndRejections`) for the class as it was, and that code then called V8's generic
// property-load inline cache about 60 times per proxied request instead of loading the frame
// methods directly: about 9 k instructions, 6 % of a keep-alive request
// (`bash bench/instructions.sh`, ONLY=portico SCENARIOS=ka: 148.3-150.4 k per request in six
// runs without this, 139.7-140.9 k in two with it). Asking once at startup makes the swap happen
// before any of that code is optimised.

import { AsyncLocalStorage } from 'node:async_hooks';

// Reading the export is what triggers the swap; nothing else is needed.
void AsyncLocalStorage;
