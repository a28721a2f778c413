/**
 * Short, non-reversible names for presented tokens, so logs can tell repeated failures of
 * one token apart from a spray of guesses without showing the token or any part of it.
 *
 * @module
 */

import { createHmac, randomBytes } from "node:crypto";

/** Hex characters of a fingerprint in logs: enough to tell tokens apart, too few to test guesses offline. */
const FINGERPRINT_LENGTH = 8;

/**
 * Computes HMAC-SHA256 digests of tokens under a key made when the process starts and never
 * stored, so a fingerprint cannot be reversed or even checked against a guess outside the
 * process, and fingerprints from two runs cannot be linked.
 */
export class TokenFingerprinter {
  #key = randomBytes(32);

  /** Returns the first 8 hex characters of the token's HMAC, for log lines. */
  fingerprint(token: string): string {
    return this.digest(token).slice(0, FINGERPRINT_LENGTH);
  }

  /** Returns the token's whole HMAC in hex, for keys of in-memory maps. */
  digest(token: string): string {
    return createHmac("sha256", this.#key).update(token, "utf8").digest("hex");
  }
}
