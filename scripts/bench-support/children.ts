/**
 * Child processes of the benchmark: started pinned to a CPU, in their own process group, and
 * all stopped when the benchmark ends, fails or is interrupted.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import process from "node:process";

/** Started child process, with the log file that receives its output. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** File that receives the child's standard output and standard error. */
  readonly logPath: string;
}

/** Options of {@linkcode startChild}. */
export interface StartChildOptions {
  /** CPUs the child may run on, in `taskset -c` syntax (`0`, `0,1`). Unset leaves it unpinned. */
  cpus?: string;
  /** File for standard output and standard error. @default /dev/null */
  logPath?: string;
  env?: Record<string, string>;
}

const running = new Set<Child>();

/**
 * Starts `argv` in a process group of its own, so that stopping it also stops the processes it
 * forks (socat forks one process per connection).
 */
export function startChild(name: string, argv: string[], options: StartChildOptions = {}): Child {
  const command = options.cpus === undefined ? argv : ["taskset", "-c", options.cpus, ...argv];
  const logPath = options.logPath ?? "/dev/null";
  const output = openSync(logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(command[0], command.slice(1), {
      detached: true,
      stdio: ["ignore", output, output],
      env: options.env ?? childEnv(),
    });
  } finally {
    closeSync(output);
  }
  if (child.pid === undefined) throw new Error(`Cannot start ${name}: ${command[0]} did not start`);
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
    child.on("error", () => resolve("spawn error"));
  });
  const entry: Child = { name, process: child, pid: child.pid, exited, logPath };
  running.add(entry);
  exited.then(() => running.delete(entry));
  return entry;
}

/**
 * Sends SIGTERM to the child's process group, then SIGKILL after `graceMs`, and waits for the
 * exit.
 */
export async function stopChild(child: Child, graceMs = 3000): Promise<void> {
  if (!running.has(child)) return;
  signalGroup(child.pid, "SIGTERM");
  const timer = setTimeout(() => signalGroup(child.pid, "SIGKILL"), graceMs);
  await child.exited;
  clearTimeout(timer);
  // Processes the child forked (socat's per-connection copies) may outlive it.
  signalGroup(child.pid, "SIGKILL");
}

/** Stops every child still running. Called when the benchmark ends, fails or is interrupted. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child, 1000)));
}

/** Kills every child at once without waiting, for the synchronous `exit` handler. */
export function killAllChildrenNow(): void {
  for (const child of running) signalGroup(child.pid, "SIGKILL");
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as { code?: string }).code !== "ESRCH") throw error;
  }
}

/**
 * Returns the environment of every child. It drops the caller's `AWS_*` and `CREDPROXY_*`
 * variables and disables SDK lookups that could reach a real metadata service or config file.
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(AWS_|CREDPROXY_)/.test(key)) env[key] = value;
  }
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: "/nonexistent/credproxy-bench/config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credproxy-bench/credentials",
    NO_COLOR: "1",
    ...extra,
  };
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || address === null) throw new Error("Cannot find a free port: the server has no address");
  return address.port;
}

/**
 * Polls `url` until it returns `status`, the child exits, or `timeoutMs` passes.
 *
 * @throws an Error naming the child, the URL and the last error, with the end of the child's log
 */
export async function waitForStatus(child: Child, url: string, options: { status?: number; timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<void> {
  const wanted = options.status ?? 200;
  const deadline = performance.now() + (options.timeoutMs ?? 30_000);
  let exitedWith: number | string | undefined;
  child.exited.then((code) => (exitedWith = code));
  let last = "no response";
  while (performance.now() < deadline) {
    if (exitedWith !== undefined) break;
    try {
      const response = await fetch(url, { headers: options.headers, signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === wanted) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(20);
  }
  const why = exitedWith === undefined ? `did not return ${wanted} within ${options.timeoutMs ?? 30_000} ms (${last})` : `exited with ${exitedWith}`;
  throw new Error(`${child.name} ${why} at ${url}; its log ends with:\n${logTail(child)}`);
}

/** Returns the last lines of a child's log, for error messages. */
export function logTail(child: Child, lines = 15): string {
  if (child.logPath === "/dev/null") return "(not kept)";
  try {
    return readFileSync(child.logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(unreadable)";
  }
}

/** Reads a process's resident set size in MiB from /proc, the runtime's own threads included. */
export function residentMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`Cannot read the resident size of process ${pid}: /proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) / 1024;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
