import { describe, expect, it } from 'vitest';
import { normalizeIp, parseCidr, parseCidrs, parseIp } from '../../src/values/cidr.ts';

describe('parseIp', () => {
  it('parses IPv4 into the IPv4-mapped range', () => {
    expect(parseIp('10.1.2.3')).toEqual([0, 0, 0xffff, 0x0a010203]);
    expect(parseIp('::ffff:10.1.2.3')).toEqual([0, 0, 0xffff, 0x0a010203]);
    expect(parseIp('::ffff:a01:203')).toEqual([0, 0, 0xffff, 0x0a010203]);
  });
  it('parses IPv6 forms', () => {
    expect(parseIp('::1')).toEqual([0, 0, 0, 1]);
    expect(parseIp('::')).toEqual([0, 0, 0, 0]);
    expect(parseIp('fd00::1')).toEqual([0xfd000000, 0, 0, 1]);
    expect(parseIp('2001:db8:0:0:0:0:2:1')).toEqual([0x20010db8, 0, 0, 0x00020001]);
    expect(parseIp('fe80::1%eth0')).toEqual([0xfe800000, 0, 0, 1]);
  });
  it('refuses garbage', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1::2::3', 'g::1', 'x', '1.2.3.4 ', '::ffff:1.2.3', '1:2:3:4:5:6:7:8:9']) {
      expect(parseIp(bad), bad).toBeNull();
    }
  });
});

describe('parseCidrs', () => {
  it('matches IPv4 ranges, also in IPv4-mapped IPv6 form', () => {
    const m = parseCidrs(['10.0.0.0/8', '192.168.1.7']);
    expect(m.empty).toBe(false);
    expect(m.contains('10.255.0.1')).toBe(true);
    expect(m.contains('::ffff:10.9.9.9')).toBe(true);
    expect(m.contains('11.0.0.1')).toBe(false);
    expect(m.contains('192.168.1.7')).toBe(true);
    expect(m.contains('192.168.1.8')).toBe(false);
  });
  it('matches IPv6 ranges and odd prefix lengths', () => {
    const m = parseCidrs(['fd00::/8', '2001:db8::/33', '::1/128']);
    expect(m.contains('fd12:3456::1')).toBe(true);
    expect(m.contains('fe00::1')).toBe(false);
    expect(m.contains('2001:db8:7fff::1')).toBe(true);
    expect(m.contains('2001:db8:8000::1')).toBe(false);
    expect(m.contains('::1')).toBe(true);
    expect(m.contains('127.0.0.1')).toBe(false);
  });
  it('handles /0 and mapped CIDRs', () => {
    expect(parseCidrs(['0.0.0.0/0']).contains('8.8.8.8')).toBe(true);
    expect(parseCidrs(['0.0.0.0/0']).contains('2001:db8::1')).toBe(false);
    expect(parseCidrs(['::/0']).contains('2001:db8::1')).toBe(true);
    expect(parseCidrs(['::ffff:10.0.0.0/104']).contains('10.1.1.1')).toBe(true);
  });
  it('never throws on bad input when matching, and caches results', () => {
    const m = parseCidrs(['10.0.0.0/8']);
    expect(m.contains('garbage')).toBe(false);
    expect(m.contains('')).toBe(false);
    for (let i = 0; i < 5000; i++) m.contains(`10.0.${i & 255}.${i >> 8}`);
    expect(m.contains('10.0.0.1')).toBe(true);
  });
  it('is empty for an empty list', () => {
    const m = parseCidrs([]);
    expect(m.empty).toBe(true);
    expect(m.contains('10.0.0.1')).toBe(false);
  });
  it('throws on invalid entries, naming them', () => {
    expect(() => parseCidrs(['10.0.0.0/33'])).toThrow(/10\.0\.0\.0\/33/);
    expect(() => parseCidrs(['fd00::/129'])).toThrow(/prefix length/);
    expect(() => parseCidrs(['nope/8'])).toThrow(/bad address/);
    expect(() => parseCidrs(['10.0.0.0/x'])).toThrow(/prefix/);
  });
});

describe('parseCidr (one entry: what --trusted-proxies accepts)', () => {
  it('reads an address or CIDR as written', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 4 });
    expect(parseCidr('192.0.2.7')).toEqual({ address: '192.0.2.7', prefix: 32, family: 4 });
    expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 6 });
    expect(parseCidr('::ffff:10.0.0.0/104')).toEqual({ address: '::ffff:10.0.0.0', prefix: 104, family: 6 });
    expect(parseCidr('fe80::1%eth0/64')).toEqual({ address: 'fe80::1%eth0', prefix: 64, family: 6 });
  });
  it('refuses what is not one, and parseCidrs refuses the same entries', () => {
    const bad = ['', 'nope', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/x', '10.0.0.0/', '10.0.0.0/0008', '01.2.3.4', '1.2.3.4%eth0', '1.2.3.4%', 'fe80::1%', '1::2::3'];
    for (const text of bad) {
      expect(parseCidr(text), text).toBeUndefined();
      if (text !== '') expect(() => parseCidrs([text]), text).toThrow(/invalid CIDR/);
    }
  });
});

describe('normalizeIp', () => {
  it('unwraps IPv4-mapped addresses only', () => {
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('::1')).toBe('::1');
    expect(normalizeIp('::ffff:a01:203')).toBe('::ffff:a01:203');
  });
});
