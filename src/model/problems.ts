// Problems found while translating, collected alongside the config (Contour's "status cache"
// idea): processors report and carry on, the caller turns problems into logs, Events and
// metrics. Output order is fixed so the same snapshot yields the same list.

import type { ObjectRef, Problem } from './types.ts';

/** Reasons the model reports; other rooms may match on these strings. */
export type ProblemReason =
  | 'InvalidIngress'
  | 'InvalidRule'
  | 'InvalidHost'
  | 'InvalidPath'
  | 'InvalidPathType'
  | 'InvalidBackend'
  | 'ServiceNotFound'
  | 'ServicePortNotFound'
  | 'ExternalNameNotSupported'
  | 'ResourceBackendNotSupported'
  | 'RuleConflict'
  | 'CanaryWithoutPrimary'
  | 'DefaultBackendConflict'
  | 'InvalidAnnotation'
  | 'UnknownAnnotation'
  | 'UnsupportedAnnotation'
  | 'AccessControlNotEnforced'
  | 'AuthSecretInvalid'
  | 'ConfigMapInvalid'
  | 'InvalidTLS'
  | 'TLSConflict';

export class ProblemSink {
  private readonly seen = new Set<string>();
  private list: Problem[] = [];

  add(object: ObjectRef, reason: ProblemReason, text: string): void {
    const message = sentence(text);
    // The same sentence twice for one object says nothing new (e.g. one bad annotation read
    // once per host); keep one.
    const key = `${object.kind}\0${object.namespace}\0${object.name}\0${reason}\0${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push({ object, reason, message });
  }

  /** All problems, sorted by object (kind, namespace, name), then reason, then message. */
  sorted(): Problem[] {
    return this.list.slice().sort(compareProblems);
  }

  /** The problems added since the last drain, sorted as by sorted(); the sink is then empty. */
  drain(): Problem[] {
    if (this.list.length === 0) return [];
    const out = this.list.sort(compareProblems);
    this.list = [];
    this.seen.clear();
    return out;
  }
}

/**
 * Processors build messages from fragments; this makes them sentences: a final period, and an
 * upper-case first letter when the message starts with a plain word (not with a field path
 * such as `spec.rules[0]`, which must keep its spelling).
 */
export function sentence(text: string): string {
  const t = text.trim();
  if (t === '') return t;
  const first = /^[a-z]+[\s,]/.test(t) ? t.charAt(0).toUpperCase() + t.slice(1) : t;
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether two problems say the same thing about the same object (compareProblems is 0). */
export function sameProblem(a: Problem, b: Problem): boolean {
  return (
    a.message === b.message &&
    a.reason === b.reason &&
    a.object.name === b.object.name &&
    a.object.namespace === b.object.namespace &&
    a.object.kind === b.object.kind
  );
}

export function compareProblems(a: Problem, b: Problem): number {
  return (
    cmp(a.object.kind, b.object.kind) ||
    cmp(a.object.namespace, b.object.namespace) ||
    cmp(a.object.name, b.object.name) ||
    cmp(a.reason, b.reason) ||
    cmp(a.message, b.message)
  );
}
