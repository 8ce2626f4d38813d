import { describe, expect, it } from 'vitest';
import { parseSize } from '../../src/values/size.ts';

describe('parseSize (nginx size syntax)', () => {
  it('reads bytes and k/K, m/M, g/G multiples of 1024', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize('8k')).toBe(8192);
    expect(parseSize('8K')).toBe(8192);
    expect(parseSize('1m')).toBe(1_048_576);
    expect(parseSize('1M')).toBe(1_048_576);
    expect(parseSize('2g')).toBe(2 * 1024 ** 3);
    expect(parseSize('2G')).toBe(2 * 1024 ** 3);
  });

  it('accepts 0 (nginx: no limit)', () => {
    expect(parseSize('0')).toBe(0);
    expect(parseSize('0m')).toBe(0);
  });

  it('refuses what nginx refuses, and sizes beyond a safe integer', () => {
    for (const text of ['', 'k', '1.5m', '-1', '1 m', ' 1m', '1m ', '1mb', '1MB', '1t', '1kk', '0x10', '1e3', '99999999999999999999', '9007199254740992k']) {
      expect(parseSize(text), text).toBeUndefined();
    }
  });
});
