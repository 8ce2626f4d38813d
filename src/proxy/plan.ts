// Each rule's request stages, compiled once per route (the first time a config's route is
// used) and kept as long as the route lives: the ordered filter steps its RouteFilters ask for.
// Plain requests and WebSocket upgrades run the same plan. A route without filters has no
// plan at all (NO_FILTERS is tested by reference), so it pays nothing.
//
// A stage reads and edits the scanned request head (target, upstream headers) and answers 0 to
// go on, or the status the request must be answered with instead.

import type { Route } from '../model/types.ts';
import { NO_FILTERS } from '../model/types.ts';
import { declaredTooLarge } from './filters/body-limit.ts';
import { setHeader } from './filters/request-headers.ts';
import { rewriteUrl } from './filters/rewrite.ts';
import type { InboundHead } from './inbound.ts';

export type Stage = (head: InboundHead) => number;

export interface RequestPlan {
  readonly stages: readonly Stage[];
  /** Body limit in bytes for this route (0: none), or -1 for the proxy's global limit. */
  readonly bodyLimit: number;
}

const plans = new WeakMap<Route, RequestPlan>();

/** The plan of a route whose filters are not NO_FILTERS. */
export function planOf(route: Route): RequestPlan {
  let plan = plans.get(route);
  if (plan === undefined) {
    plan = compilePlan(route);
    plans.set(route, plan);
  }
  return plan;
}

/** Builds the stages in DESIGN.md's order: limits, then rewrite, then request headers. */
export function compilePlan(route: Route): RequestPlan {
  const f = route.filters;
  const stages: Stage[] = [];
  if (f === NO_FILTERS) return { stages, bodyLimit: -1 };
  const limit = f.bodyLimit;
  if (limit !== undefined && limit > 0) stages.push((head) => (declaredTooLarge(head.bodyLength, limit) ? 413 : 0));
  const rewrite = f.rewrite;
  const regex = route.regex;
  if (rewrite !== undefined && regex !== null) {
    stages.push((head) => {
      const url = rewriteUrl(rewrite, regex, head.path, head.url);
      if (url !== null) head.url = url;
      return 0;
    });
  }
  const host = f.upstreamHost;
  if (host !== undefined) stages.push((head) => (setHeader(head.headers, 'host', host), 0));
  const prefix = f.forwardedPrefix;
  if (prefix !== undefined) stages.push((head) => (setHeader(head.headers, 'x-forwarded-prefix', prefix), 0));
  return { stages, bodyLimit: limit ?? -1 };
}

/** Runs the stages; 0 when the request goes on, else the status to answer. */
export function runPlan(plan: RequestPlan, head: InboundHead): number {
  const stages = plan.stages;
  for (let i = 0; i < stages.length; i++) {
    const status = (stages[i] as Stage)(head);
    if (status !== 0) return status;
  }
  return 0;
}
