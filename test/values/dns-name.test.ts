import { describe, expect, it } from 'vitest';
import { isDnsLabel, isDnsSubdomain, isDottedName, isHostName, MAX_LABEL, MAX_NAME } from '../../src/values/dns-name.ts';

describe('DNS names', () => {
  it('isDnsLabel: letters, digits and "-" inside, a letter or digit at each end', () => {
    for (const ok of ['a', 'default', 'kube-system', '0', 'a-0', 'x'.repeat(100)]) expect(isDnsLabel(ok), ok).toBe(true);
    for (const bad of ['', '-a', 'a-', 'a.b', 'A', 'a_b', 'a b', 'a/b', '*']) expect(isDnsLabel(bad), bad).toBe(false);
  });

  it('isDnsSubdomain: labels joined by single dots', () => {
    for (const ok of ['a', 'a.b', 'tls.example.com', 'a-1.b-2']) expect(isDnsSubdomain(ok), ok).toBe(true);
    for (const bad of ['', '.a', 'a.', 'a..b', 'a.-b', 'a-.b', '*.a', 'A.b']) expect(isDnsSubdomain(bad), bad).toBe(false);
  });

  it('isDottedName: also takes doubled dots and dots beside "-" (what the flags and the chart accept)', () => {
    for (const ok of ['portico', 'a.b', 'a..b', 'a.-b', 'edge-leader']) expect(isDottedName(ok), ok).toBe(true);
    for (const bad of ['', '.a', 'a.', '-a', 'A', 'a_b', 'a/b']) expect(isDottedName(bad), bad).toBe(false);
  });

  it('isHostName: labels of at most 63, at most 253 in all', () => {
    const label = 'a'.repeat(MAX_LABEL);
    const longest = [label, label, label, 'a'.repeat(MAX_NAME - 3 * (MAX_LABEL + 1))].join('.');
    expect(longest.length).toBe(MAX_NAME);
    for (const ok of ['a', 'www.example.com', label, longest, '10.0.0.1']) expect(isHostName(ok), ok).toBe(true);
    for (const bad of ['', 'a'.repeat(MAX_LABEL + 1), longest + 'a', 'a..b', 'a.', '*.example.com', 'Example.com', 'a_b.com']) expect(isHostName(bad), bad).toBe(false);
  });
});
