// Durations as our flags write them (the Helm chart's values.schema.json accepts the same:
// test/chart/flags.test.ts).

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** '500ms', '5s', '1.5m', '2h' → milliseconds; a bare number is seconds. undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
  return Number.isFinite(value) ? Math.round(value) : undefined;
}
