/**
 * Whether the image tests run: they need the compiled binary from `scripts/build` and
 * tools that `.ci/run` installs (busybox-static, iproute2). Without them the tests are
 * skipped on a developer machine, but under CI=true they run and fail, so a broken build
 * cannot pass as a skipped test.
 *
 * @module
 */

import { existsSync } from "node:fs";
import process from "node:process";
import { BINARY_PATH } from "../support/credproxy-process.ts";

export { BINARY_PATH };

/** Static BusyBox from Debian's busybox-static, the `ip` of the sidecar image. */
export const BUSYBOX_PATH = "/bin/busybox";

/** `skip` option for a test that needs the file at `path`: a reason, or false to run it. */
export function skipWithout(path: string, fix: string): string | false {
  if (existsSync(path) || process.env.CI === "true") return false;
  return `${path} not found; ${fix}`;
}

/** `skip` option for tests of the compiled binary. */
export function skipWithoutBinary(): string | false {
  return skipWithout(BINARY_PATH, "run scripts/build");
}

/** Throws a message naming the fix when the binary is missing; call it first in each test. */
export function assertBinaryBuilt(): void {
  if (!existsSync(BINARY_PATH)) {
    throw new Error(`Compiled binary not found at ${BINARY_PATH}: run scripts/build before the tests`);
  }
}
