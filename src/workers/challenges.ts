// The primary's ChallengeStore, which also hands every new version of the challenge Secret to
// the workers (they have no API access; theirs are fed with `apply`).

import { ChallengeStore, type ChallengeStoreOptions } from '../acme/challenges.ts';
import type { Secret } from '../store/types.ts';

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
