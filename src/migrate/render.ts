// The migration report as text for people (a table) or for programs (JSON).

import { VERDICT_ORDER, VERDICT_WORDS } from './classify.ts';
import type { IngressEffect } from './classify.ts';
import type { IngressReport, MigrationReport } from './report.ts';

const EFFECT_WORDS: Readonly<Record<IngressEffect | 'not-served', string>> = {
  routes: 'routes',
  'routes-ignoring': 'routes, ignoring some annotations',
  'answers-503': 'answers 503 (fails closed)',
  canary: 'canary of the rules with the same host and path',
  'not-served': 'not served',
};

/** JSON: the report as is (its shape is documented by MigrationReport), one trailing newline. */
export function renderJson(report: MigrationReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

export function renderTable(report: MigrationReport): string {
  const out: string[] = [];
  const { options } = report;
  const flags = [`--controller-name ${options.controllerName}`, `--ingress-class ${options.ingressClass}`, ...(options.watchIngressWithoutClass ? ['--watch-ingress-without-class'] : [])];
  out.push(`Source: ${report.source}`);
  out.push(`Class selection: ${flags.join(' ')}`);
  out.push('');

  out.push(`Ingresses: ${report.ingresses.length} (${report.served} served by Portico, ${report.notServed} not)`);
  if (report.ingresses.length > 0) {
    const rows = report.ingresses.map((i) => [`${i.namespace}/${i.name}`, classWords(i), i.served ? 'yes' : 'no', EFFECT_WORDS[i.effect]]);
    out.push(...table(['INGRESS', 'CLASS', 'SERVED', 'OUTCOME'], rows, (r) => {
      const ing = report.ingresses[r]!;
      const why = ing.notServedBecause === undefined ? [] : [`    (${ing.notServedBecause})`];
      return [...why, ...ing.annotations.map((a) => `    ${a.key}: ${VERDICT_WORDS[a.verdict]}`), ...ing.references.map((r) => `    ${r}`)];
    }));
  }
  out.push('');

  out.push('Annotations on served Ingresses:');
  if (report.annotations.length === 0) out.push('  none');
  else {
    const rows = report.annotations.map((a) => [a.key, VERDICT_WORDS[a.verdict], String(a.ingresses), a.note]);
    out.push(...table(['ANNOTATION', 'CLASS', 'INGRESSES', 'NOTE'], rows));
  }
  out.push('');

  out.push(`Totals (annotation uses on served Ingresses): ${VERDICT_ORDER.map((v) => `${report.totals[v]} ${VERDICT_WORDS[v]}`).join(', ')}`);
  if (report.problems.length > 0) {
    out.push('');
    out.push(`Problems (${report.problems.length}):`);
    for (const p of report.problems) out.push(`  ${p}`);
  }
  out.push('');
  if (report.exitCode === 0) {
    if (report.served > 0) out.push(`Result: every annotation on the ${report.served} served Ingresses is supported.`);
    else {
      out.push('Result: Portico would serve none of these Ingresses with this class selection. Give the class flags');
      out.push('Portico will run with; to take over from ingress-nginx: --controller-name k8s.io/ingress-nginx');
      out.push('--ingress-class nginx --watch-ingress-without-class.');
    }
  } else {
    const parts: string[] = [];
    if (report.needAttention > 0) parts.push(`${report.needAttention} of ${report.served} served Ingresses carry annotations Portico does not honour (unsupported, failing closed or unknown)`);
    if (report.problems.length > 0) parts.push(`${report.problems.length} objects or files could not be read`);
    out.push(`Result: needs attention: ${parts.join('; ')}.`);
  }
  return out.join('\n') + '\n';
}

function classWords(i: IngressReport): string {
  if (i.class === null) return '(none)';
  return i.class.from === 'ingressClassName' ? i.class.name : `${i.class.name} (annotation)`;
}

/**
 * Columns padded to their widest cell, the last one left ragged; `after(row)` adds lines under
 * a row. Two spaces of indent, two between columns.
 */
function table(head: readonly string[], rows: readonly string[][], after?: (row: number) => string[]): string[] {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]): string =>
    `  ${cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}`.trimEnd();
  const out = [line(head)];
  rows.forEach((r, i) => {
    out.push(line(r));
    if (after) out.push(...after(i));
  });
  return out;
}
