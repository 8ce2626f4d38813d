// TLS session ticket keys shared by every proxy worker. Node gives each tls.Server random keys
// of its own, so a ticket issued by one worker cannot be decrypted by another; with
// SCHED_NONE the kernel spreads a client's connections over the workers, and most resumptions
// would fall back to a full handshake. The primary generates the keys, sends them to every
// worker (and to replacements) and rotates them, so that a stolen key (or a long-lived one)
// cannot decrypt traffic from long ago: tickets carry the session secrets.
//
// Node holds one ticket key at a time (there is no decrypt-only previous key), so a rotation
// ends the resumability of every outstanding ticket: once per interval, each client makes one
// full handshake. The keys are secrets: never log them.

import { randomBytes } from 'node:crypto';

/** tls.Server#setTicketKeys wants exactly this many bytes (name, HMAC secret, AES key). */
export const TICKET_KEY_BYTES = 48;
/** How often the keys change (common practice: at least daily). */
export const TICKET_KEY_ROTATION_MS = 12 * 60 * 60 * 1000;

export interface TicketKeysOptions {
  /** Called with the new keys after each rotation (not for the first keys). */
  onRotate: (keys: Buffer) => void;
  /** Rotation interval (default TICKET_KEY_ROTATION_MS); tests shorten it. */
  rotationMs?: number;
}

export class TicketKeys {
  private keys = randomBytes(TICKET_KEY_BYTES);
  private timer: NodeJS.Timeout | undefined;
  private readonly onRotate: (keys: Buffer) => void;
  private readonly rotationMs: number;

  constructor(opts: TicketKeysOptions) {
    this.onRotate = opts.onRotate;
    this.rotationMs = opts.rotationMs ?? TICKET_KEY_ROTATION_MS;
  }

  get current(): Buffer {
    return this.keys;
  }

  /** Starts the rotation timer (it does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.rotate(), this.rotationMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  rotate(): void {
    this.keys = randomBytes(TICKET_KEY_BYTES);
    this.onRotate(this.keys);
  }
}

/** The keys as they travel in messages (base64 text). */
export function encodeTicketKeys(keys: Buffer): string {
  return keys.toString('base64');
}

/** The keys from a message; throws (naming no bytes) when they are not exactly 48 bytes. */
export function decodeTicketKeys(text: string): Buffer {
  const keys = Buffer.from(text, 'base64');
  if (keys.length !== TICKET_KEY_BYTES) throw new RangeError(`TLS ticket keys must be ${TICKET_KEY_BYTES} bytes, got ${keys.length}`);
  return keys;
}
