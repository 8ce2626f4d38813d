// The ClientHello reader of ssl-passthrough: real ClientHellos (Node's TLS client, captured on
// a loopback socket) and hand-built ones, whole, split across segments and records,
// truncated, and random or mutated bytes (it must never throw nor read past what it got).

import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { HelloBytes, MAX_CLIENT_HELLO_BYTES, MAX_HELLO_RECORDS, peekClientHello } from '../../src/proxy/client-hello.ts';

/** The first flight of Node's TLS client for these options: its ClientHello record(s). */
async function capture(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello within 5 s')), 5000);
      server.once('connection', (socket) => {
        let buf = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          if (peekClientHello(buf).kind !== 'more') {
            clearTimeout(timer);
            socket.destroy();
            resolve(buf);
          }
        });
      });
      const client = tls.connect({ host: '127.0.0.1', port, ...opts });
      client.on('error', () => {});
    });
  } finally {
    server.close();
  }
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

function sniExt(entries: [number, Buffer][]): Buffer {
  const list = Buffer.concat(entries.map(([t, name]) => Buffer.concat([Buffer.from([t]), u16(name.length), name])));
  return ext(0, Buffer.concat([u16(list.length), list]));
}

/** A ClientHello handshake message (header included) with these extensions (null: none at all). */
function helloMessage(extensions: Buffer[] | null): Buffer {
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7), // random
    Buffer.from([0]), // session id
    u16(2),
    Buffer.from([0x13, 0x01]), // one cipher suite
    Buffer.from([1, 0]), // null compression
    ...(extensions === null ? [] : [u16(Buffer.concat(extensions).length), ...extensions]),
  ]);
  const len = Buffer.from([1, (body.length >> 16) & 255, (body.length >> 8) & 255, body.length & 255]);
  return Buffer.concat([len, body]);
}

/** The handshake message framed in records of at most `size` bytes each. */
function records(message: Buffer, size = 16384): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < message.length; i += size) {
    const frag = message.subarray(i, i + size);
    out.push(Buffer.concat([Buffer.from([22, 3, 1]), u16(frag.length), frag]));
  }
  return Buffer.concat(out);
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('peekClientHello', () => {
  it('reads the server name of a real ClientHello, lower case', async () => {
    const hello = await capture({ servername: 'Argo.Example.COM' });
    expect(peekClientHello(hello)).toEqual({ kind: 'hello', serverName: 'argo.example.com' });
  });

  it('a real ClientHello without SNI has no server name', async () => {
    const hello = await capture({ servername: '' });
    expect(peekClientHello(hello)).toEqual({ kind: 'hello', serverName: null });
  });

  it('asks for more until the last byte of a ClientHello split at any point', async () => {
    const hello = await capture({ servername: 'vault.test' });
    for (let i = 0; i < hello.length; i++) expect(peekClientHello(hello.subarray(0, i)).kind, `${i} bytes`).toBe('more');
    expect(peekClientHello(hello)).toEqual({ kind: 'hello', serverName: 'vault.test' });
  });

  it('reads a ClientHello spread over several records, split anywhere', () => {
    const message = helloMessage([ext(10, Buffer.alloc(600, 1)), sniExt([[0, Buffer.from('multi.test')]])]);
    const framed = records(message, 100);
    expect(framed.length).toBeGreaterThan(message.length + 5 * 6);
    for (let i = 0; i < framed.length; i++) expect(peekClientHello(framed.subarray(0, i)).kind, `${i} bytes`).toBe('more');
    expect(peekClientHello(framed)).toEqual({ kind: 'hello', serverName: 'multi.test' });
    // records of one, two and one bytes first: the handshake header itself split
    const head = [message.subarray(0, 1), message.subarray(1, 3), message.subarray(3, 4)].map((f) => Buffer.concat([Buffer.from([22, 3, 1]), u16(f.length), f]));
    expect(peekClientHello(Buffer.concat([...head, records(message.subarray(4))]))).toEqual({ kind: 'hello', serverName: 'multi.test' });
  });

  it(`a ClientHello over more than ${MAX_HELLO_RECORDS} records is not read (the TLS server takes it as usual)`, () => {
    const message = helloMessage([sniExt([[0, Buffer.from('tiny.test')]])]);
    const size = Math.ceil(message.length / MAX_HELLO_RECORDS);
    expect(peekClientHello(records(message, size))).toEqual({ kind: 'hello', serverName: 'tiny.test' });
    expect(peekClientHello(records(message, 1)).kind).toBe('invalid');
  });

  it('HelloBytes gathers a hello sent a byte at a time into the same bytes', async () => {
    const hello = await capture({ servername: 'drip.test' });
    const bytes = new HelloBytes();
    let seen: Buffer = Buffer.alloc(0);
    for (let i = 0; i < hello.length; i++) seen = bytes.add(hello.subarray(i, i + 1));
    expect(seen.equals(hello)).toBe(true);
    expect(peekClientHello(seen)).toEqual({ kind: 'hello', serverName: 'drip.test' });
    // the first chunk is used as it is
    const one = new HelloBytes();
    expect(one.add(hello)).toBe(hello);
  });

  it('takes the first host_name entry, after other name types and extensions; a trailing dot is dropped', () => {
    const message = helloMessage([ext(43, Buffer.from([2, 3, 4])), sniExt([[1, Buffer.from('other')], [0, Buffer.from('first.test.')], [0, Buffer.from('second.test')]])]);
    expect(peekClientHello(records(message))).toEqual({ kind: 'hello', serverName: 'first.test' });
  });

  it('no extensions, no SNI extension, or a name that is not a host name: no server name', () => {
    expect(peekClientHello(records(helloMessage(null)))).toEqual({ kind: 'hello', serverName: null });
    expect(peekClientHello(records(helloMessage([ext(10, Buffer.from([0, 2, 0, 29]))])))).toEqual({ kind: 'hello', serverName: null });
    for (const bad of ['a b.test', 'x/../y', 'é.test', '.lead.test', 'a..b', '-x.test', 'x'.repeat(64) + '.test', '']) {
      expect(peekClientHello(records(helloMessage([sniExt([[0, Buffer.from(bad, 'latin1')]])]))), bad).toEqual({ kind: 'hello', serverName: null });
    }
  });

  it('other protocols are invalid from their first bytes', () => {
    expect(peekClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'invalid' });
    expect(peekClientHello(Buffer.from('G'))).toEqual({ kind: 'invalid' });
    expect(peekClientHello(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'))).toEqual({ kind: 'invalid' });
    expect(peekClientHello(Buffer.from([22, 2]))).toEqual({ kind: 'invalid' }); // SSLv2-era version
    expect(peekClientHello(Buffer.from([22, 3, 1, 0, 0]))).toEqual({ kind: 'invalid' }); // empty record
    expect(peekClientHello(Buffer.alloc(0))).toEqual({ kind: 'more' });
  });

  it('a handshake that is not a ClientHello, or larger than the limit, is invalid', () => {
    const serverHello = helloMessage(null);
    serverHello[0] = 2;
    expect(peekClientHello(records(serverHello))).toEqual({ kind: 'invalid' });
    // a record longer than TLS allows
    expect(peekClientHello(Buffer.from([22, 3, 1, 0x40, 0x01]))).toEqual({ kind: 'invalid' });
    // a ClientHello announcing more than the limit
    expect(peekClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0, 0x50, 0]))).toEqual({ kind: 'invalid' });
    // records that never complete a ClientHello within the limit
    const huge = helloMessage([ext(21, Buffer.alloc(MAX_CLIENT_HELLO_BYTES))]);
    expect(peekClientHello(records(huge, 1000))).toEqual({ kind: 'invalid' });
  });

  it('lengths that point past their container are invalid', () => {
    const message = helloMessage([sniExt([[0, Buffer.from('len.test')]])]);
    // the SNI list length (after 4 handshake + 2+32+1+2+2+2 body + 2 extensions-length + 4 extension header)
    const at = 4 + 41 + 2 + 2 + 4;
    const broken = Buffer.from(message);
    broken.writeUInt16BE(500, at);
    expect(peekClientHello(records(broken))).toEqual({ kind: 'invalid' });
    const sessionTooLong = Buffer.from(message);
    sessionTooLong[4 + 34] = 33;
    expect(peekClientHello(records(sessionTooLong))).toEqual({ kind: 'invalid' });
  });

  it('never throws on random bytes, truncations or mutations of a real ClientHello', async () => {
    const hello = await capture({ servername: 'fuzz.test' });
    const rand = rng(13);
    let hellos = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(rand() < 0.5 ? hello : hello.subarray(0, Math.floor(rand() * hello.length)));
      for (let m = Math.floor(rand() * 4); m > 0; m--) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      const peek = peekClientHello(b);
      expect(['more', 'hello', 'invalid']).toContain(peek.kind);
      if (peek.kind === 'hello') hellos++;
    }
    expect(hellos).toBeGreaterThan(0);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(Math.floor(rand() * 600));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      if (rand() < 0.5 && b.length > 2) [b[0], b[1]] = [22, 3];
      expect(() => peekClientHello(b)).not.toThrow();
    }
  });
});
