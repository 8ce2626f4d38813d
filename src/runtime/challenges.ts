// ACME HTTP-01 tokens when the proxy runs in workers: the primary's ChallengeStore watches the
// challenge Secret and hands every new version to the workers, which have no API access; a
// worker's store is fed by those messages (`apply`) and read by its data plane.

import { ChallengeStore, type ChallengeLookup, type ChallengeStoreOptions } from '../acme/challenges.ts';
import type { Logger } from '../observe/log.ts';
import type { Secret } from '../store/types.ts';

/** The primary's ChallengeStore, which also forwards every version of the Secret to the workers. */
export class ForwardingChallengeStore extends ChallengeStore {
  private readonly forward: (secret: Secret | undefined) => void;

  constructor(opts: ChallengeStoreOptions & { forward: (secret: Secret | undefined) => void }) {
    super(opts);
    this.forward = opts.forward;
  }

  override apply(secret: Secret | undefined): void {
    super.apply(secret);
    this.forward(secret);
  }
}

/** A worker's tokens: what the primary forwarded, for the data plane to answer from. */
export interface ChallengeReplica extends ChallengeLookup {
  apply(secret: Secret | undefined): void;
}

export function challengeReplica(log: Logger): ChallengeReplica {
  return new ChallengeStore({ log });
}
