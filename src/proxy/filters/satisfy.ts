// ingress-nginx `satisfy: any`: the route's access checks (source address lists, basic
// authentication, external authentication) let a request through when any one of them does,
// as nginx's `satisfy any` over its access phase. Without it (`all`, the default) each check
// is its own stage and every one must pass.
//
// nginx's rules, kept here: the checks run in order (addresses, then basic auth, then the auth
// service, cheapest first, so an allowed address asks no password and sends no subrequest);
// the first that allows ends the phase; refusals are remembered, 401 winning over 403, and the
// remembered one is answered with its own headers (basic auth's challenge, the auth service's
// WWW-Authenticate) when none allows. Any other answer (500 from a dead auth service, 503 from
// misconfigured basic auth, a sign-in 302) ends the phase at once: failures stay closed.

import type { PlanHead, WaitingStage } from '../plan.ts';

/** One stage that runs `checks` with nginx's `satisfy any` rules. */
export function satisfyAnyStage(checks: readonly WaitingStage[]): WaitingStage {
  return (head) => runChecks(checks, 0, head, 0, null, head.answerHeaders === null ? 0 : head.answerHeaders.length);
}

/**
 * Runs checks[from...]; `refused` is the refusal remembered so far (0 when none) and
 * `refusedHeaders` the answer headers its check added. `base` is the length of the answer
 * header list before the first check: each check's additions are taken off again.
 */
function runChecks(
  checks: readonly WaitingStage[],
  from: number,
  head: PlanHead,
  refused: number,
  refusedHeaders: string[] | null,
  base: number,
): number | Promise<number> {
  for (let i = from; i < checks.length; i++) {
    const result = checks[i]!(head);
    if (typeof result !== 'number') {
      return result.then((status) => {
        const next = settleCheck(head, status, refused, refusedHeaders, base);
        if (next === null) return finalStatus(head, status, base);
        return runChecks(checks, i + 1, head, next.refused, next.headers, base);
      });
    }
    const next = settleCheck(head, result, refused, refusedHeaders, base);
    if (next === null) return finalStatus(head, result, base);
    refused = next.refused;
    refusedHeaders = next.headers;
  }
  // none allowed: the remembered refusal, with its headers
  restore(head, base, refusedHeaders);
  return refused;
}

/**
 * After a check answered `status`: null when the phase ends here (allowed, or an answer that is
 * not a refusal), else the refusal to remember and its headers (taken off the head for now).
 */
function settleCheck(
  head: PlanHead,
  status: number,
  refused: number,
  refusedHeaders: string[] | null,
  base: number,
): { refused: number; headers: string[] | null } | null {
  if (status !== 401 && status !== 403) return null;
  const added = taken(head, base);
  // 401 sticks: a later 403 does not replace it (nginx keeps access_code 401)
  if (refused === 401 && status === 403) return { refused, headers: refusedHeaders };
  return { refused: status, headers: added };
}

/** The phase ended with `status`: 0 keeps nothing of earlier refusals; another answer keeps only its own headers. */
function finalStatus(head: PlanHead, status: number, base: number): number {
  if (status === 0) taken(head, base);
  return status;
}

/** Removes and returns the answer headers added since `base`. */
function taken(head: PlanHead, base: number): string[] | null {
  const list = head.answerHeaders;
  if (list === null || list.length <= base) return null;
  const added = list.splice(base);
  if (list.length === 0) head.answerHeaders = null;
  return added;
}

function restore(head: PlanHead, base: number, headers: string[] | null): void {
  taken(head, base);
  if (headers === null) return;
  if (head.answerHeaders === null) head.answerHeaders = headers;
  else head.answerHeaders.push(...headers);
}
