/**
 * `credproxy loopback`: add, remove or show metadata addresses on the loopback interface.
 *
 * @module
 */

import type { CliIo } from "./main.ts";

/** Runs the loopback subcommand and returns its exit status. */
export async function runLoopbackCli(args: string[], io: CliIo): Promise<number> {
  const { parseLoopbackArgs, runLoopbackCommand } = await import("../loopback/mod.ts");
  let parsed;
  try {
    parsed = parseLoopbackArgs(args);
  } catch (error) {
    io.stderr(`credproxy loopback: ${(error as Error).message}\n`);
    return 2;
  }
  return await runLoopbackCommand(parsed, { stdout: io.stdout, stderr: io.stderr });
}
