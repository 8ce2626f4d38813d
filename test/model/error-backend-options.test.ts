// custom-http-errors values, as ingress-nginx accepts them (comma-separated error statuses).

import { describe, expect, it } from 'vitest';
import { parseErrorCodes } from '../../src/model/error-backend-options.ts';

describe('custom-http-errors', () => {
  it.each([
    ['404', [404]],
    ['503, 404,500,404', [404, 500, 503]],
    ['599,400,', [400, 599]],
  ])('%j → %j', (raw, codes) => {
    expect(parseErrorCodes(raw)).toEqual(codes);
  });

  it.each([
    ['302', /"302" is not a status from 400 to 599/],
    ['404;500', /"404;500" is not a status/],
    ['600', /"600" is not/],
    [' , ', /lists no status/],
  ])('%j is refused', (raw, message) => {
    const r = parseErrorCodes(raw);
    expect('invalid' in r ? r.invalid : '').toMatch(message);
  });
});
