/**
 * `credproxy reload`: ask a running CredProxy to reload its config, by sending SIGHUP to the
 * process named in its pid file. Also the pid file that `serve --pid-file` writes.
 *
 * @module
 */

import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import process from "node:process";
import type { CliIo } from "./main.ts";

/** Writes this process's ID to `path`, as `serve --pid-file` does once it listens. */
export function writePidFile(path: string): void {
  writeFileSync(path, `${process.pid}\n`);
}

/** Removes `path` if it still contains this process's ID, so a newer instance's file stays. */
export function removePidFile(path: string): void {
  try {
    if (readFileSync(path, "utf8").trim() === String(process.pid)) unlinkSync(path);
  } catch {
    // Already gone, or unreadable: nothing of ours to remove.
  }
}

/**
 * Sends SIGHUP to the process in `pidFile` and returns the exit status: 0 when the signal
 * was delivered, 1 when it could not be, 2 without a pid file.
 *
 * Whether the reload succeeded is in that process's log, because a signal returns no result.
 */
export function runReload(pidFile: string | undefined, io: Pick<CliIo, "stdout" | "stderr">): number {
  if (!pidFile) {
    io.stderr(
      "credproxy: No pid file: pass --pid-file FILE or set CREDPROXY_PID_FILE, as given to serve; or send SIGHUP to the CredProxy process yourself\n",
    );
    return 2;
  }

  let text: string;
  try {
    text = readFileSync(pidFile, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "not found; is CredProxy running with this --pid-file?" : `cannot be read (${code})`;
    io.stderr(`credproxy: Cannot reload: pid file "${pidFile}" ${reason}\n`);
    return 1;
  }
  const pid = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || pid <= 1) {
    io.stderr(`credproxy: Cannot reload: pid file "${pidFile}" does not hold a process ID\n`);
    return 1;
  }

  // serve removes its pid file when it stops, but after a crash the ID may have been reused
  // by an unrelated process, which SIGHUP would likely kill. Where /proc exists, check.
  const commandLine = readCommandLine(pid);
  if (commandLine !== undefined && !/credproxy|mod\.ts/i.test(commandLine)) {
    io.stderr(`credproxy: Cannot reload: process ${pid} from "${pidFile}" is not CredProxy; the pid file is stale\n`);
    return 1;
  }
  try {
    process.kill(pid, "SIGHUP");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ESRCH"
      ? `no process has ID ${pid}; the pid file "${pidFile}" is stale`
      : code === "EPERM"
      ? `permission denied to signal process ${pid}; run as the user that runs CredProxy`
      : `sending SIGHUP to process ${pid} failed (${code ?? (error as Error).message})`;
    io.stderr(`credproxy: Cannot reload: ${reason}\n`);
    return 1;
  }
  io.stdout(`Sent SIGHUP to CredProxy (process ${pid}); its log reports whether the config was reloaded\n`);
  return 0;
}

/** Returns a process's command line from /proc, or undefined where it cannot be read. */
function readCommandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return undefined;
  }
}
