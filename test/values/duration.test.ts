import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/values/duration.ts';

describe('parseDuration', () => {
  it('reads ms, s, m and h; a bare number is seconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('30')).toBe(30_000);
    expect(parseDuration('0.25s')).toBe(250);
    expect(parseDuration(' 5 s ')).toBe(5000);
    expect(parseDuration('0')).toBe(0);
  });

  it('rounds to whole milliseconds', () => {
    expect(parseDuration('1.0004s')).toBe(1000);
    expect(parseDuration('0.5ms')).toBe(1);
  });

  it('refuses anything else', () => {
    for (const text of ['', 'soon', '5 minutes', '-1s', '1d', '1e3s', '.5s', '5.s', '5S', '1h30m']) expect(parseDuration(text), text).toBeUndefined();
  });
});
