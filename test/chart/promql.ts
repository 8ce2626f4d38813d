// Reading PromQL expressions in tests: which metrics and which labels an expression uses (a
// tokenizer good enough for dashboards and alert rules, not a parser).

/** PromQL keywords: identifiers that are never metric names. */
const NOT_METRICS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);

/** Metric names in a PromQL expression: identifiers before a `{` selector, or standing alone. */
export function metricNames(expr: string): string[] {
  // Strings, label matchers and grouping lists hold label names and values, never metric names.
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  // An identifier followed by `(` is a function; one after `$` a variable; after a digit, a unit.
  for (const m of stripped.matchAll(/(?<![\w$:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    if (!NOT_METRICS.has(m[1]!)) names.add(m[1]!);
  }
  return [...names];
}

/** Label names an expression refers to: selectors, by/without/on/ignoring lists, label_replace, legends. */
export function labelNames(expr: string, legend = ''): string[] {
  const out = new Set<string>();
  for (const sel of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const m of sel[1]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)) out.add(m[1]!);
  }
  for (const list of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    for (const l of list[1]!.split(',')) if (l.trim()) out.add(l.trim());
  }
  for (const m of expr.matchAll(/label_replace\([\s\S]*?,\s*"([^"]+)"\s*,\s*"[^"]*"\s*,\s*"([^"]+)"/g)) {
    out.add(m[1]!);
    out.add(m[2]!);
  }
  for (const m of legend.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) out.add(m[1]!);
  return [...out];
}
