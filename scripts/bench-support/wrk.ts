/**
 * Runs wrk (the Debian package, 4.1) and reads requests per second and latency percentiles
 * from its `--latency` report.
 *
 * @module
 */

import { spawn } from "node:child_process";

/** Options of one wrk run. */
export interface WrkOptions {
  url: string;
  connections: number;
  /** Seconds to run, at least 1. */
  seconds: number;
  headers?: Record<string, string>;
  /** Whether to open a new connection for every request (`Connection: close`). @default false */
  closeEachRequest?: boolean;
  /** CPUs wrk runs on, in `taskset -c` syntax. */
  cpus?: string;
}

/** Measurements of one wrk run. */
export interface WrkResult {
  requests: number;
  requestsPerSecond: number;
  /** Median latency in milliseconds. */
  p50Ms: number;
  /** 99th percentile latency in milliseconds. */
  p99Ms: number;
  /**
   * Responses outside 2xx and 3xx, plus connect, write and timeout errors. Read errors count
   * too, unless each request closes its connection. In that case wrk counts a read error for
   * every connection that Bun's server closes after `Connection: close`, even when the
   * response was complete.
   */
  errors: number;
}

/**
 * Runs wrk with one thread and returns its numbers.
 *
 * @throws an Error when wrk exits with a non-zero code or its report cannot be parsed
 */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = ["-t1", `-c${options.connections}`, `-d${Math.max(1, Math.round(options.seconds))}s`, "--latency", "--timeout", "5s"];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push("-H", `${name}: ${value}`);
  if (options.closeEachRequest) args.push("-H", "Connection: close");
  args.push(options.url);
  const argv = options.cpus === undefined ? ["wrk", ...args] : ["taskset", "-c", options.cpus, "wrk", ...args];

  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) throw new Error(`wrk ${args.join(" ")} exited with ${code}:\n${output}`);
  return parseWrkReport(output, { countReadErrors: !options.closeEachRequest });
}

/**
 * Parses wrk's `--latency` report into a {@linkcode WrkResult}.
 *
 * @throws an Error when a figure is missing, with the report in the message
 */
export function parseWrkReport(report: string, options: { countReadErrors: boolean }): WrkResult {
  const figure = (pattern: RegExp, what: string): RegExpExecArray => {
    const match = pattern.exec(report);
    if (!match) throw new Error(`Cannot read ${what} from the wrk report:\n${report}`);
    return match;
  };
  const requests = Number(figure(/^\s*(\d+) requests in /m, "the request count")[1]);
  const requestsPerSecond = Number(figure(/^Requests\/sec:\s+([\d.]+)/m, "requests per second")[1]);
  // wrk pads short values with spaces after the unit ("2.75s ").
  const p50 = figure(/^\s+50%\s+([\d.]+)(us|ms|s)\s*$/m, "the median latency");
  const p99 = figure(/^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m, "the 99th percentile latency");
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(report)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  const [connect, read, write, timeout] = (socket?.slice(1) ?? ["0", "0", "0", "0"]).map(Number);
  const socketErrors = connect + (options.countReadErrors ? read : 0) + write + timeout;
  return {
    requests,
    requestsPerSecond,
    p50Ms: toMilliseconds(Number(p50[1]), p50[2]),
    p99Ms: toMilliseconds(Number(p99[1]), p99[2]),
    errors: non2xx + socketErrors,
  };
}

function toMilliseconds(value: number, unit: string): number {
  if (unit === "us") return value / 1000;
  if (unit === "s") return value * 1000;
  return value;
}
