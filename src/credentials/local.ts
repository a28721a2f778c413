/**
 * Locally minted credentials, for emulators such as LocalStack and moto and for offline demos.
 *
 * They look like STS's (an `ASIA` access key ID, a 40-character secret, a long session
 * token, a real expiry) but no AWS service will accept them.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import type { ServedCredentials } from "./types.ts";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Options of {@linkcode mintLocalCredentials}. */
export interface LocalCredentialsOptions {
  /** 12-digit account ID reported with the credentials. */
  accountId: string;
  /** Lifetime in seconds. */
  durationSeconds: number;
  /** Current time in milliseconds since the epoch. */
  now: number;
}

/** Mints a fresh set of random temporary credentials. */
export function mintLocalCredentials(options: LocalCredentialsOptions): ServedCredentials {
  const keyId = Array.from(randomBytes(16), (byte) => BASE32[byte % 32]).join("");
  return {
    accessKeyId: `ASIA${keyId}`,
    secretAccessKey: randomBytes(30).toString("base64"),
    sessionToken: randomBytes(192).toString("base64"),
    // STS reports whole seconds, and so do these.
    expiration: new Date(Math.floor(options.now / 1000) * 1000 + options.durationSeconds * 1000),
    accountId: options.accountId,
  };
}
