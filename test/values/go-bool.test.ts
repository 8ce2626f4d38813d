import { describe, expect, it } from 'vitest';
import { parseGoBool } from '../../src/values/go-bool.ts';

describe('parseGoBool (Go strconv.ParseBool, as ingress-nginx reads booleans)', () => {
  it('takes exactly Go\'s spellings', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseGoBool(t), t).toBe(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseGoBool(f), f).toBe(false);
    for (const x of ['', 'yes', 'on', 'tRUE', ' true', '2', 'constructor']) expect(parseGoBool(x), x).toBeUndefined();
  });
});
