// Each rule's request stages, compiled once per route (the first time a config's route is
// used) and kept as long as the route lives: the ordered filter steps its RouteFilters ask for.
// Plain requests and WebSocket upgrades run the same plan. A route without filters has no
// plan at all (NO_FILTERS is tested by reference), so it pays nothing.
//
// A stage reads and edits the scanned request head (target, upstream headers) and answers 0 to
// go on, or the status the request must be answered with instead. Only basic authentication
// (a bcrypt check not yet cached) and external authentication (a subrequest not answered from
// its cache) may answer a Promise: a plan with such a stage is marked
// `sync: false` and the proxy awaits it; every other plan runs synchronously, as before, and
// allocates nothing per request. (The client-certificate stage of a host with a CRL may wait
// too, once, for the CRLs to load.)
//
// A stage sees the request as a PlanHead: the scanned head plus what a stage may leave for the
// proxy: headers for the local answer it returns (a 302's Location, a preflight's CORS
// headers), headers to add to the upstream's response (CORS), and one hook run when the
// exchange ends, however it ends (a connection-limit slot is given back there). These fields
// are null on every request whose stages set nothing, and cost nothing then.
//
// Global filters (the proxy's --whitelist-source-range / --denylist-source-range, and
// --global-auth-url) come in through a PlanContext; when it has any, every route gets a plan,
// NO_FILTERS ones included.

import type { ExternalAuth, Route, RouteFilters } from '../model/types.ts';
import { NO_FILTERS } from '../model/types.ts';
import type { ExternalAuthClient } from './auth-client.ts';
import { externalAuthStage, stripAuthResponseHeaders } from './filters/external-auth.ts';
import { basicAuthStage, challengeOf, type BasicAuthVerifier } from './filters/basic-auth.ts';
import { declaredTooLarge } from './filters/body-limit.ts';
import { corsStage } from './filters/cors.ts';
import { NO_GLOBAL_SOURCE_RANGE, sourceRangeStage, type GlobalSourceRange } from './filters/source-range.ts';
import { DEFAULT_RATE_LIMITS, type RateLimits } from './filters/rate-limit.ts';
import { setHeader } from './filters/request-headers.ts';
import { rewriteUrl } from './filters/rewrite.ts';
import type { InboundHead } from './inbound.ts';
import type { ErrorKind } from './request-info.ts';
import type { Socket } from 'node:net';
import { clientCertStage } from './filters/client-cert.ts';
import { satisfyAnyStage } from './filters/satisfy.ts';
import { customHeadersStage } from './filters/custom-headers.ts';

/** The request as stages see it. The proxy resets the three outputs to null per request. */
export interface PlanHead extends InboundHead {
  /** The request method as received (upper case for every method Node parses). */
  readonly method: string;
  /** The listener's scheme (nginx $scheme); plain requests and upgrades always set it. */
  readonly scheme?: 'http' | 'https';
  /** Headers (flat list) for the local answer a stage returns instead of 0. */
  answerHeaders: string[] | null;
  /** Headers (flat list) added to the response, from the upstream or a later local answer. */
  responseHeaders: string[] | null;
  /** Run once when the exchange ends (answered, relayed, failed or aborted). */
  onDone: (() => void) | null;
  /** Why a stage refused, when its status alone does not say (a limit's status is configurable). */
  refusal?: 'rate_limited' | 'connection_limited';
  /**
   * The client connection (its TLS socket on the HTTPS listener; for HTTP/2, Node's proxy of
   * the session's socket). Read by the client-certificate stage only.
   */
  readonly connection?: Socket | null;
}

export type Stage = (head: PlanHead) => number;
/** A stage that may have to wait (basic authentication); see RequestPlan.sync. */
export type WaitingStage = (head: PlanHead) => number | Promise<number>;

/** The error kind reported for a status a plan answered with (access log, metrics). */
export function refusalKind(head: PlanHead, status: number): ErrorKind | null {
  if (head.refusal !== undefined) return head.refusal;
  if (status < 400) return null; // an answer a stage gives on purpose (a CORS preflight, a sign-in redirect)
  return status === 413 ? 'body_too_large' : status === 401 || status === 403 ? 'access_denied' : 'direct';
}

/** Appends name/value pairs to a PlanHead's answer headers. */
export function addAnswerHeaders(head: PlanHead, ...pairs: string[]): void {
  if (head.answerHeaders === null) head.answerHeaders = pairs;
  else head.answerHeaders.push(...pairs);
}

/** Appends name/value pairs to a PlanHead's response headers. */
export function addResponseHeaders(head: PlanHead, ...pairs: string[]): void {
  if (head.responseHeaders === null) head.responseHeaders = pairs;
  else head.responseHeaders.push(...pairs);
}

/** Chains a hook onto a PlanHead's onDone (hooks run in the order they were added). */
export function addDoneHook(head: PlanHead, hook: () => void): void {
  const prev = head.onDone;
  head.onDone = prev === null ? hook : () => { prev(); hook(); };
}

export interface RequestPlan {
  /** Every stage is a Stage (never returns a Promise) when `sync`; else some are WaitingStages. */
  readonly stages: readonly WaitingStage[];
  readonly sync: boolean;
  /** Body limit in bytes for this route (0: none), or -1 for the proxy's global limit. */
  readonly bodyLimit: number;
  /** The route's basic-auth challenge (its stage adds it to its own 401s); '' without basic auth. */
  readonly challenge: string;
  readonly context: PlanContext;
}

/** What plans need from the proxy that owns them. */
export interface PlanContext {
  readonly sourceRange: GlobalSourceRange;
  /** Checks passwords for basic-auth stages; null: such routes answer 503. */
  readonly verifier: BasicAuthVerifier | null;
  /** Whether every route needs a plan (a global filter is set). */
  readonly global: boolean;
  /** The proxy's rate-limit zones and statuses; absent: DEFAULT_RATE_LIMITS. */
  readonly rateLimits?: RateLimits;
  /** Sends external-auth subrequests; absent or null: routes with external auth answer 503. */
  readonly externalAuth?: ExternalAuthClient | null;
  /** --global-auth-url: external auth of every route without its own or an opt-out (then `global`). */
  readonly globalAuth?: ExternalAuth | null;
}

export const NO_PLAN_CONTEXT: PlanContext = Object.freeze({ sourceRange: NO_GLOBAL_SOURCE_RANGE, verifier: null, global: false });

const plans = new WeakMap<Route, RequestPlan>();

/**
 * The plan of a route whose filters are not NO_FILTERS (or of any route when the context has
 * global filters), compiled on first use and kept while the route lives.
 */
export function planOf(route: Route, context: PlanContext = NO_PLAN_CONTEXT): RequestPlan {
  let plan = plans.get(route);
  if (plan === undefined || plan.context !== context) {
    plan = compilePlan(route, context);
    plans.set(route, plan);
  }
  return plan;
}

/**
 * Builds the stages in DESIGN.md's order: client certificates, CORS (its preflight answer
 * comes first, as nginx's rewrite phase precedes its access phase), source addresses, rate
 * and connection limits, authentication, body limit, then rewrite, then request headers.
 * Limits come before authentication as nginx's limit_req/limit_conn (preaccess phase) come
 * before auth_basic (access phase): failed logins count against the limit, which slows
 * password guessing. With `satisfy: any` the address lists, basic auth and external auth are
 * one stage after the limits (filters/satisfy.ts): any of them passing lets the request in.
 */
export function compilePlan(route: Route, context: PlanContext = NO_PLAN_CONTEXT): RequestPlan {
  const f = route.filters;
  const stages: WaitingStage[] = [];
  let sync = true;
  let challenge = '';
  // custom-headers before anything that may answer: more_set_headers covers every status
  if (f.customHeaders !== undefined) stages.push(customHeadersStage(f.customHeaders));
  // client certificates first: nginx checks them before any phase (and match-cn at server level)
  if (f.clientCert !== undefined) {
    stages.push(clientCertStage(f.clientCert));
    // a resumed session may wait for the host's CRLs to load (the first moments only)
    if (f.clientCert.crlPem !== '') sync = false;
  }
  if (f.cors !== undefined) stages.push(corsStage(f.cors));
  const ip = sourceRangeStage(f.sourceRange, context.sourceRange);
  if (f === NO_FILTERS) {
    if (ip !== null) stages.push(ip);
    const external = externalStage(route, f, context);
    if (external !== null) {
      stages.push(external);
      sync = false;
    }
    return { stages, sync, bodyLimit: -1, challenge, context };
  }
  let basic: WaitingStage | null = null;
  const auth = f.basicAuth;
  if (auth !== undefined) {
    const verifier = context.verifier;
    if (verifier === null) basic = () => 503;
    else {
      challenge = challengeOf(auth);
      basic = challenging(basicAuthStage(auth, verifier), challenge);
    }
  }
  const external = externalStage(route, f, context);
  const checks = [ip, basic, external].filter((s) => s !== null);
  const rate = f.rateLimit;
  if (f.satisfy === 'any' && checks.length > 1) {
    // satisfy any: one stage for the three checks, after the limits as nginx's access phase
    // comes after its preaccess phase (satisfy.ts)
    if (rate !== undefined) stages.push((context.rateLimits ?? DEFAULT_RATE_LIMITS).stage(rate));
    // a request let in by another check skips the auth service: the client's copies of the
    // headers the service would set must go all the same (nginx sends them empty)
    const auth = external === null ? null : authOf(f, context);
    if (auth !== null && auth.responseHeaders.length > 0) stages.push((head) => (stripAuthResponseHeaders(auth, head), 0));
    stages.push(satisfyAnyStage(checks));
    sync = false;
  } else {
    if (ip !== null) stages.push(ip);
    if (rate !== undefined) {
      const limits = context.rateLimits ?? DEFAULT_RATE_LIMITS;
      stages.push(limits.stage(rate));
      // with workers, a request-rate check asks the primary (filters/rate-limit.ts)
      if (limits.waits(rate)) sync = false;
    }
    if (basic !== null) stages.push(basic);
    if (external !== null) stages.push(external);
    if (auth !== undefined && context.verifier !== null) sync = false;
    if (external !== null) sync = false;
  }
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
  return { stages, sync, bodyLimit: limit ?? -1, challenge, context };
}

/**
 * A basic-auth stage whose 401 carries the route's challenge (`WWW-Authenticate: Basic
 * realm=...`): only its own refusals do, never another stage's 401 (an external auth
 * service's answer brings its own challenge, or none).
 */
function challenging(stage: WaitingStage, challenge: string): WaitingStage {
  return (head) => {
    const result = stage(head);
    if (typeof result === 'number') {
      if (result === 401) addAnswerHeaders(head, 'www-authenticate', challenge);
      return result;
    }
    return result.then((status) => {
      if (status === 401) addAnswerHeaders(head, 'www-authenticate', challenge);
      return status;
    });
  };
}

/** The route's external auth: its own auth-url, else --global-auth-url unless it opted out. */
function authOf(f: RouteFilters, context: PlanContext): ExternalAuth | null {
  return f.externalAuth ?? (f.noGlobalAuth === true ? null : (context.globalAuth ?? null));
}

/** The route's external auth stage (its own auth-url, else --global-auth-url unless opted out), or null. */
function externalStage(route: Route, f: RouteFilters, context: PlanContext): WaitingStage | null {
  const auth = authOf(f, context);
  if (auth === null) return null;
  const client = context.externalAuth ?? null;
  return client === null ? () => 503 : externalAuthStage(auth, route, client);
}

/** Runs a `sync` plan's stages; 0 when the request goes on, else the status to answer. */
export function runPlan(plan: RequestPlan, head: PlanHead): number {
  const stages = plan.stages;
  for (let i = 0; i < stages.length; i++) {
    const status = (stages[i] as Stage)(head);
    if (status !== 0) return status;
  }
  return 0;
}

/**
 * Runs any plan, synchronously as long as no stage answers a Promise (a cached basic-auth
 * check does not): the result is a number then, and a Promise only when a stage must wait.
 * A waiting stage's result is awaited before the next stage runs (later stages edit the head
 * only once the request is let through). Rejections become 500 at the caller.
 */
export function runPlanWaiting(plan: RequestPlan, head: PlanHead): number | Promise<number> {
  return runFrom(plan.stages, 0, head);
}

function runFrom(stages: readonly WaitingStage[], from: number, head: PlanHead): number | Promise<number> {
  for (let i = from; i < stages.length; i++) {
    const status = stages[i]!(head);
    if (typeof status !== 'number') return status.then((s) => (s !== 0 ? s : runFrom(stages, i + 1, head)));
    if (status !== 0) return status;
  }
  return 0;
}
