/**
 * Writing a service's token to a file for a client to read through
 * `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
 *
 * @module
 */

import { chmodSync, closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

/** Tokens are visible ASCII only: a space, CR or LF in one breaks SDKs' header handling. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Writes `token` to `path` with mode 0600 and no trailing newline, because SDKs send every
 * byte of the file and a newline breaks botocore, Go, Rust and Node.
 *
 * The token goes to a temporary file in the same directory, created 0600, and is renamed
 * into place, so a reader never sees a partial token and the token is never readable by
 * others, not even for a moment.
 *
 * @throws {RangeError} when the token contains anything but visible ASCII.
 */
export function writeTokenFile(path: string, token: string): void {
  if (!VISIBLE_ASCII.test(token)) {
    throw new RangeError(`Cannot write token file "${path}": the token must contain only visible ASCII characters`);
  }
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const descriptor = openSync(temporary, "wx", 0o600);
  try {
    writeSync(descriptor, token);
  } finally {
    closeSync(descriptor);
  }
  try {
    // The umask can only remove bits, but an explicit mode makes the result independent of it.
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
