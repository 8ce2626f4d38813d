// The decision ladder a routed request climbs before it is forwarded, one for plain requests
// and WebSocket upgrades alike (each then writes the outcome its own way: local-answers.ts):
//
//   no route                      → 404
//   plain HTTP the route moves    → redirect to HTTPS (--http-redirect-code)
//   a rule's direct response      → that answer
//   a rule's redirect, app-root   → that redirect
//   the route's plan (filters)    → its refusal, or a wait (authentication), or on
//   otherwise                     → forward (body limit and endpoints are the caller's steps)
//
// The outcome is a LocalBody to answer with (its headers left in head.answerHeaders, the
// reported error in head.error), a Promise when a stage must wait (settle() its status), or
// null to forward. Nothing is allocated for a plain route that is forwarded.

import type { Route } from '../model/types.ts';
import { NO_FILTERS } from '../model/types.ts';
import type { BalancerState } from './balancer.ts';
import { redirectFor } from './filters/redirect.ts';
import { directBody, planAnswer, redirectBody, LOCAL_RESPONSES, type LocalBody } from './local-answers.ts';
import { refusalKind, runPlan, runPlanWaiting, type PlanHead, type RequestPlan } from './plan.ts';
import type { ErrorKind } from './request-info.ts';
import { hostname } from './tls-hosts.ts';
import type { Upstream } from './upstreams.ts';

/** Where routing sent a request head (Proxy.resolve). */
export interface Resolved {
  route: Route | null;
  state: BalancerState | null;
  upstream: Upstream | null;
  /** Answer with a redirect to HTTPS instead of proxying. */
  redirect: boolean;
  /** The endpointsKey chosen (the route's backend, or its canary's); absent when none was. */
  backend?: string;
  /** A Set-Cookie value for the response (cookie affinity with a new pick). */
  setCookie?: string | undefined;
  /** The route's Service has no endpoint: this is its default-backend (ingress-nginx default-backend). */
  fallback?: true;
}

/** A request head on the ladder: a plan's head plus what the ladder leaves on it. */
export interface LadderHead extends PlanHead {
  readonly scheme: 'http' | 'https';
  route: Route | null;
  error: ErrorKind | null;
  /** The plan that ran for the route, null when it has none (its body limit applies when forwarding). */
  plan: RequestPlan | null;
}

/** What the ladder needs from the proxy. */
export interface LadderContext {
  /** The route's plan, or null when it has none (no filters and no global ones). */
  planFor(route: Route): RequestPlan | null;
  /** --http-redirect-code: HTTPS redirects and from-to-www twins. */
  readonly httpRedirectCode: number;
}

/**
 * Climbs the ladder for a resolved request (head.route is set from `r`). Returns the answer
 * to give, a Promise of the status a waiting plan decides (then settle()), or null to forward.
 */
export function decide(head: LadderHead, r: Resolved, ctx: LadderContext): LocalBody | Promise<number> | null {
  const route = r.route;
  head.route = route;
  if (route === null) {
    head.error = 'no_route';
    return LOCAL_RESPONSES.R404;
  }
  if (r.redirect) return redirectTo(head, ctx.httpRedirectCode, 'https://' + hostname(head.host) + head.url);
  const action = route.action;
  if (action.kind === 'direct') {
    head.error = 'direct';
    return directBody(action);
  }
  if (action.kind === 'redirect' || (route.filters !== NO_FILTERS && route.filters.appRoot !== undefined)) {
    const to = redirectFor(route, head, head.scheme);
    // from-to-www twins answer with --http-redirect-code, as ingress-nginx's redirect servers
    if (to !== null) return redirectTo(head, action.kind === 'redirect' && action.wwwAlias === true ? ctx.httpRedirectCode : to.status, to.location);
  }
  const plan = ctx.planFor(route);
  if (plan === null) return null;
  head.plan = plan;
  let status: number;
  if (plan.sync) status = runPlan(plan, head);
  else {
    const result = runPlanWaiting(plan, head);
    if (typeof result !== 'number') return result;
    status = result;
  }
  return status === 0 ? null : refusal(head, status);
}

/** The outcome of a plan that waited: its answer, or null to forward. */
export function settle(head: LadderHead, status: number): LocalBody | null {
  return status === 0 ? null : refusal(head, status);
}

/** The answer for the status a plan's stage returned (its headers are in head.answerHeaders). */
function refusal(head: LadderHead, status: number): LocalBody {
  head.error = refusalKind(head, status);
  return planAnswer(status);
}

function redirectTo(head: LadderHead, status: number, location: string): LocalBody {
  const extra = head.answerHeaders;
  if (extra === null) head.answerHeaders = ['location', location];
  else extra.push('location', location);
  return redirectBody(status);
}
