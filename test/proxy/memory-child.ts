// Child process for memory.test.ts: runs only the proxy, so its RSS is the proxy's alone.
// argv[2] = upstream port. IPC: sends {port}; answers 'stats' with {rss, maxRss}; 'reset'
// starts a new max after a GC; 'exit' quits. maxExternal = peak of ArrayBuffer memory
// (socket read buffers awaiting GC), for diagnosis.

import { silentLogger } from '../../src/observe/log.ts';
import { Proxy, createHttpListener, DEFAULT_PROXY_SETTINGS } from '../../src/proxy/proxy.ts';
import { FakeConfig, FakeEndpoints } from './fixtures.ts';

const upstreamPort = Number(process.argv[2]);
const endpoints = new FakeEndpoints();
endpoints.set('svc', [upstreamPort]);
const config = new FakeConfig([{ host: 'app.test', key: 'svc' }]);
const proxy = new Proxy({ config: () => config, endpoints, settings: { ...DEFAULT_PROXY_SETTINGS, bodyLimit: 0 }, log: silentLogger });
const server = createHttpListener(proxy, {});

let maxRss = 0;
let maxExternal = 0;
const sample = () => {
  const rss = process.memoryUsage.rss();
  if (rss > maxRss) maxRss = rss;
  return rss;
};
const sampleExternal = () => {
  const m = process.memoryUsage();
  if (m.arrayBuffers > maxExternal) maxExternal = m.arrayBuffers;
};
setInterval(sampleExternal, 100).unref();
setInterval(sample, 20).unref();

const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', (m: unknown) => {
  if (m === 'reset') {
    gc?.();
    maxRss = 0;
    maxExternal = 0;
    const rss = sample();
    process.send!({ rss, maxRss, maxExternal });
  } else if (m === 'stats') {
    const rss = sample();
    process.send!({ rss, maxRss, maxExternal });
  } else if (m === 'exit') {
    server.close();
    void proxy.close(100).then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.send!({ port: typeof a === 'object' && a !== null ? a.port : 0 });
});
