/**
 * `credproxy loopback`: add, remove or show metadata addresses on the loopback interface.
 *
 * @module
 */

import type { CliIo } from "./main.ts";

/** Runs the loopback subcommand and returns its exit status. */
export async function runLoopbackCli(args: string[], io: CliIo): Promise<number> {
  // Loaded on demand: only this command needs dax.
  const loopback = await import("../loopback/mod.ts");
  return await loopback.runLoopbackCli(args, { stdout: io.stdout, stderr: io.stderr });
}
