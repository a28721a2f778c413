/**
 * Measurements 1 to 3: warm credential requests against the bare Hono ceiling, with
 * keep-alive and with a new connection per request, and the metadata endpoint against socat.
 *
 * @module
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Child, freePort, startChild, stopChild, waitForStatus } from "./children.ts";
import { WEB_TOKEN, writeLocalConfig } from "./configs.ts";
import type { Target } from "./targets.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

/** Server that received the requests of one measured point. */
export type Server = "bare Hono" | "bare Hono + listen()" | "CredProxy" | "socat" | "sidecar" | "in-process";

/** Connection pattern: keep-alive connections, or a new connection per request. */
export type Pattern = "keep-alive" | "close";

/** One wrk run against one server. */
export interface Point extends WrkResult {
  target: string;
  server: Server;
  pattern: Pattern;
  connections: number;
}

/** Settings shared by every measurement of a run. */
export interface Settings {
  /** Seconds per point. */
  seconds: number;
  /** Seconds of unmeasured traffic to each server before its first point, or 0 for none. */
  warmUpSeconds: number;
  /** Seconds a server sits idle before its resident size is read. */
  settleSeconds: number;
  /** Connection counts of measurements 1 and 2. */
  connections: number[];
  /** Connection counts of measurement 3, and of bare Hono behind `listen()`. */
  emulatorConnections: number[];
  /** Whether to run measurements 1 and 2. */
  ceiling: boolean;
  /** Whether to run measurement 3. */
  emulator: boolean;
  /** CPUs of the servers, in `taskset -c` syntax. */
  serverCpus?: string;
  /** CPUs of the load generator, in `taskset -c` syntax. */
  clientCpus?: string;
  logLevel: string;
  workDirectory: string;
  /** Callback that writes one line of progress to standard error. */
  progress: (line: string) => void;
}

/** Results of measurements 1 to 3 for one target. */
export interface ThroughputResult {
  points: Point[];
  /** Request log lines CredProxy wrote per request it served, 1 when every request was logged. */
  logLinesPerRequest: number;
}

/**
 * Runs measurements 1 to 3 for `target`. Every server runs during the whole measurement, so
 * that the points being compared run back to back. Bare Hono and CredProxy alternate at each
 * connection count, and so do socat, the sidecar and the in-process endpoint.
 */
export async function measureThroughput(target: Target, settings: Settings): Promise<ThroughputResult> {
  const { workDirectory, serverCpus } = settings;
  const [apiPort, metadataPort, barePort, listenPort, sidecarPort, socatPort] = await Promise.all(Array.from({ length: 6 }, freePort));
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const config = writeLocalConfig(workDirectory, `${target.name}-throughput`, { port: apiPort, metadataPort: settings.emulator ? metadataPort : undefined });
  const logPath = join(workDirectory, `${target.name}-credproxy.log`);
  const children: Child[] = [];
  const start = (name: string, argv: string[], log = "/dev/null") => {
    const child = startChild(`${target.name} ${name}`, argv, { cpus: serverCpus, logPath: log });
    children.push(child);
    return child;
  };

  try {
    const credproxy = start("CredProxy", [...target.credproxy, "serve", "--config", config, "--log-level", settings.logLevel], logPath);
    await waitForStatus(credproxy, `${apiUrl}/health`);
    const bodyPath = join(workDirectory, `${target.name}-body.json`);
    writeFileSync(bodyPath, await credentialsBody(apiUrl));

    const urls: Record<Server, string> = {
      "bare Hono": `http://127.0.0.1:${barePort}/v1/credentials`,
      "bare Hono + listen()": `http://127.0.0.1:${listenPort}/v1/credentials`,
      CredProxy: `${apiUrl}/v1/credentials`,
      socat: `http://127.0.0.1:${socatPort}/v1/credentials`,
      sidecar: `http://127.0.0.1:${sidecarPort}/v1/credentials`,
      "in-process": `http://127.0.0.1:${metadataPort}/v1/credentials`,
    };
    const points: Point[] = [];
    const measure = async (server: Server, pattern: Pattern, connections: number) => {
      const result = await runWrk({
        url: urls[server],
        connections,
        seconds: settings.seconds,
        headers: { Authorization: WEB_TOKEN },
        closeEachRequest: pattern === "close",
        cpus: settings.clientCpus,
      });
      points.push({ target: target.name, server, pattern, connections, ...result });
      settings.progress(`  ${target.name} ${server} ${pattern} c=${connections}: ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99Ms} ms`);
    };
    // The first credentials request above reached CredProxy too.
    let unmeasuredRequests = 1;
    const warmUp = async (server: Server) => {
      if (settings.warmUpSeconds === 0) return;
      const result = await runWrk({
        url: urls[server],
        connections: 16,
        seconds: settings.warmUpSeconds,
        headers: { Authorization: WEB_TOKEN },
        cpus: settings.clientCpus,
      });
      if (!server.startsWith("bare Hono")) unmeasuredRequests += result.requests;
    };

    if (settings.ceiling) {
      const bare = start("bare Hono", [...target.bareHono, "--port", String(barePort), "--body-file", bodyPath]);
      const behindListen = start("bare Hono + listen()", [...target.bareHono, "--port", String(listenPort), "--body-file", bodyPath, "--through-listen"]);
      await waitForStatus(bare, `http://127.0.0.1:${barePort}/health`);
      await waitForStatus(behindListen, `http://127.0.0.1:${listenPort}/health`);
      // JIT compilers need a moment of traffic before their numbers mean anything.
      for (const server of ["bare Hono", "bare Hono + listen()", "CredProxy"] as const) await warmUp(server);
      for (const pattern of ["keep-alive", "close"] as const) {
        for (const connections of settings.connections) {
          await measure("bare Hono", pattern, connections);
          if (settings.emulatorConnections.includes(connections)) await measure("bare Hono + listen()", pattern, connections);
          await measure("CredProxy", pattern, connections);
        }
      }
      await stopChild(behindListen);
      await stopChild(bare);
    }

    if (settings.emulator) {
      const sidecar = start("sidecar", [
        ...target.credproxy,
        "sidecar",
        "--upstream",
        apiUrl,
        "--listen",
        `127.0.0.1:${sidecarPort}`,
        "--no-add-addresses",
        "--log-level",
        settings.logLevel,
      ]);
      // socat is the setup the metadata endpoint replaces, with one process per connection.
      const socat = start("socat", ["socat", `TCP4-LISTEN:${socatPort},bind=127.0.0.1,fork,reuseaddr`, `TCP4:127.0.0.1:${apiPort}`]);
      await waitForStatus(sidecar, `http://127.0.0.1:${sidecarPort}/health`);
      await waitForStatus(socat, `http://127.0.0.1:${socatPort}/health`);
      await waitForStatus(credproxy, `http://127.0.0.1:${metadataPort}/health`);
      for (const server of ["socat", "sidecar", "in-process"] as const) await warmUp(server);
      for (const pattern of ["keep-alive", "close"] as const) {
        for (const connections of settings.emulatorConnections) {
          for (const server of ["socat", "sidecar", "in-process"] as const) await measure(server, pattern, connections);
        }
      }
    }

    for (const child of [...children].reverse()) await stopChild(child);
    const measured = points.filter((point) => !point.server.startsWith("bare Hono")).reduce((sum, point) => sum + point.requests, 0);
    const served = measured + unmeasuredRequests;
    return { points, logLinesPerRequest: countRequestLogLines(logPath) / served };
  } finally {
    for (const child of children) await stopChild(child);
  }
}

/** Fetches one credentials body, to give the bare Hono server the same body to return. */
async function credentialsBody(apiUrl: string): Promise<string> {
  const response = await fetch(`${apiUrl}/v1/credentials`, { headers: { Authorization: WEB_TOKEN } });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`CredProxy returned ${response.status} to the first credentials request: ${text}`);
  return text;
}

/**
 * Counts the credential request lines in a CredProxy log, from both the API and the
 * in-process metadata endpoint.
 */
function countRequestLogLines(logPath: string): number {
  const text = readFileSync(logPath, "utf8");
  let count = 0;
  for (let index = text.indexOf('"message":"GET /v1/credentials '); index !== -1; index = text.indexOf('"message":"GET /v1/credentials ', index + 1)) {
    count += 1;
  }
  return count;
}
