/**
 * The benchmark's report: Markdown tables of every measurement and a check of each target.
 *
 * @module
 */

import { cpus, loadavg, release, totalmem } from "node:os";
import type { BurstResult } from "./burst.ts";
import type { MemoryResult } from "./memory.ts";
import type { StartupResult } from "./startup.ts";
import type { Pattern, Point, Server } from "./throughput.ts";

/** Everything one run measured. */
export interface Results {
  points: Point[];
  logLinesPerRequest: Record<string, number>;
  bursts: BurstResult[];
  memory: MemoryResult[];
  startups: StartupResult[];
}

/** Targets the results are checked against. */
export const TARGETS = {
  /** Warm requests per second, as a share of the bare Hono server on the same runtime. */
  minCeilingShare: 0.8,
  /** 99th percentile latency of warm requests at 64 keep-alive connections, in milliseconds. */
  maxP99Ms: 5,
  p99Connections: 64,
  /** Time from exec to the binary's first healthy `/health` response, in milliseconds. */
  maxBinaryHealthyMs: 150,
  /**
   * Resident size growth between the end of the warm-up and the end of the long run that
   * still counts as noise, in MiB, because garbage collectors grow and shrink heaps by a few MiB.
   */
  maxGrowthMiB: 10,
};

/** Describes the machine (CPUs, memory, kernel) for the report's header. */
export function describeMachine(): string {
  const model = cpus()[0]?.model?.trim() ?? "unknown CPU";
  const memoryGiB = totalmem() / 1024 ** 3;
  return `${cpus().length} CPUs (${model}), ${memoryGiB.toFixed(1)} GiB memory, Linux ${release()}`;
}

/** Returns the 1-, 5- and 15-minute load averages, to show whether something else ran meanwhile. */
export function loadAverage(): string {
  return loadavg().map((value) => value.toFixed(2)).join(", ");
}

const rate = (value: number) => Math.round(value).toLocaleString("en-US");
const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));
const ratio = (value: number) => `${(value * 100).toFixed(0)}%`;
const mib = (value: number) => value.toFixed(1);

function find(points: Point[], target: string, server: Server, pattern: Pattern, connections: number): Point | undefined {
  return points.find((point) => point.target === target && point.server === server && point.pattern === pattern && point.connections === connections);
}

function withErrors(point: Point, text: string): string {
  return point.errors > 0 ? `${text} (${point.errors} errors)` : text;
}

/** Formats measurements 1 and 2 (CredProxy against bare Hono) as a Markdown table. */
export function ceilingTable(points: Point[], pattern: Pattern): string[] {
  const lines = [
    "| runtime | connections | bare Hono req/s | bare Hono + listen() req/s | CredProxy req/s | share of ceiling | CredProxy p50 ms | CredProxy p99 ms | bare Hono p99 ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const credproxy of points.filter((point) => point.server === "CredProxy" && point.pattern === pattern)) {
    const bare = find(points, credproxy.target, "bare Hono", pattern, credproxy.connections);
    if (!bare) continue;
    const behindListen = find(points, credproxy.target, "bare Hono + listen()", pattern, credproxy.connections);
    const listenCell = behindListen ? withErrors(behindListen, `${rate(behindListen.requestsPerSecond)} (${ratio(behindListen.requestsPerSecond / bare.requestsPerSecond)})`) : "";
    lines.push(
      `| ${credproxy.target} | ${credproxy.connections} | ${withErrors(bare, rate(bare.requestsPerSecond))} | ${listenCell} | ${withErrors(credproxy, rate(credproxy.requestsPerSecond))} | ${
        ratio(credproxy.requestsPerSecond / bare.requestsPerSecond)
      } | ${ms(credproxy.p50Ms)} | ${ms(credproxy.p99Ms)} | ${ms(bare.p99Ms)} |`,
    );
  }
  return lines;
}

/**
 * Formats measurement 3 (socat, the sidecar and the in-process endpoint in front of CredProxy)
 * as a Markdown table.
 */
export function emulatorTable(points: Point[]): string[] {
  const lines = [
    "| runtime | connection | connections | socat req/s (p99 ms) | sidecar req/s (p99 ms) | sidecar / socat | in-process req/s (p99 ms) | in-process / socat |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const socat of points.filter((point) => point.server === "socat")) {
    const sidecar = find(points, socat.target, "sidecar", socat.pattern, socat.connections);
    const inProcess = find(points, socat.target, "in-process", socat.pattern, socat.connections);
    if (!sidecar || !inProcess) continue;
    const cell = (point: Point) => withErrors(point, `${rate(point.requestsPerSecond)} (${ms(point.p99Ms)})`);
    lines.push(
      `| ${socat.target} | ${socat.pattern} | ${socat.connections} | ${cell(socat)} | ${cell(sidecar)} | ${ratio(sidecar.requestsPerSecond / socat.requestsPerSecond)} | ${
        cell(inProcess)
      } | ${ratio(inProcess.requestsPerSecond / socat.requestsPerSecond)} |`,
    );
  }
  return lines;
}

/** Formats measurement 4 (cold burst) as a Markdown table. */
export function burstTable(bursts: BurstResult[]): string[] {
  const lines = [
    "| runtime | requests | STS delay ms | AssumeRole calls | cold: all answered ms | cold: median ms | cold: failed | warm: all answered ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const burst of bursts) {
    const failed = burst.cold.failed > 0 ? `${burst.cold.failed} (${burst.cold.firstFailure})` : "0";
    lines.push(
      `| ${burst.target} | ${burst.requests} | ${burst.stallMs} | ${burst.stsCalls} | ${ms(burst.cold.allAnsweredMs)} | ${ms(burst.cold.p50Ms)} | ${failed} | ${
        withFailures(burst.warm.allAnsweredMs, burst.warm.failed)
      } |`,
    );
  }
  return lines;
}

function withFailures(value: number, failed: number): string {
  return failed > 0 ? `${ms(value)} (${failed} failed)` : ms(value);
}

/** Formats measurement 5 (resident memory) as a Markdown table. */
export function memoryTable(memory: MemoryResult[]): string[] {
  const lines = [
    "| runtime | idle, 1 service | after warm-up | after long run | growth | idle, many services |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const entry of memory) {
    lines.push(
      `| ${entry.target} | ${mib(entry.idleOneService)} | ${mib(entry.afterWarm)} (${entry.warmRequests.toLocaleString("en-US")} req) | ${mib(entry.afterTotal)} (${
        entry.totalRequests.toLocaleString("en-US")
      } req) | ${(entry.afterTotal - entry.afterWarm >= 0 ? "+" : "") + mib(entry.afterTotal - entry.afterWarm)} | ${mib(entry.idleManyServices)} (${entry.manyServices}) |`,
    );
  }
  return lines;
}

/** Formats measurement 6 (start-up) as a Markdown table. */
export function startupTable(startups: StartupResult[]): string[] {
  const lines = [
    "| runtime | runs | exec to healthy, median (max) ms | exec to first credentials, median (max) ms | `--version`, exec to exit, median ms |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const entry of startups) {
    lines.push(
      `| ${entry.target} | ${entry.runs} | ${ms(entry.healthMedianMs)} (${ms(entry.healthMaxMs)}) | ${ms(entry.credentialsMedianMs)} (${ms(entry.credentialsMaxMs)}) | ${
        ms(entry.versionMedianMs)
      } |`,
    );
  }
  return lines;
}

/** One target check. */
export interface Check {
  target: string;
  runtime: string;
  measured: string;
  met: boolean;
}

/** Checks every target against the results that exist. */
export function checkTargets(results: Results): Check[] {
  const checks: Check[] = [];
  const { points } = results;
  for (const credproxy of points.filter((point) => point.server === "CredProxy" && point.pattern === "keep-alive")) {
    const bare = find(points, credproxy.target, "bare Hono", "keep-alive", credproxy.connections);
    if (!bare) continue;
    const share = credproxy.requestsPerSecond / bare.requestsPerSecond;
    checks.push({
      target: `warm req/s >= ${ratio(TARGETS.minCeilingShare)} of bare Hono, ${credproxy.connections} connections`,
      runtime: credproxy.target,
      measured: ratio(share),
      met: share >= TARGETS.minCeilingShare && credproxy.errors === 0,
    });
    if (credproxy.connections === TARGETS.p99Connections) {
      checks.push({
        target: `p99 < ${TARGETS.maxP99Ms} ms at ${TARGETS.p99Connections} connections`,
        runtime: credproxy.target,
        measured: `${ms(credproxy.p99Ms)} ms`,
        met: credproxy.p99Ms < TARGETS.maxP99Ms,
      });
    }
  }
  for (const socat of points.filter((point) => point.server === "socat")) {
    for (const server of ["sidecar", "in-process"] as const) {
      const emulator = find(points, socat.target, server, socat.pattern, socat.connections);
      if (!emulator) continue;
      const share = emulator.requestsPerSecond / socat.requestsPerSecond;
      const strictlyFaster = socat.pattern === "close";
      checks.push({
        target: `${server} ${strictlyFaster ? ">" : ">="} socat, ${socat.pattern}, ${socat.connections} connections`,
        runtime: socat.target,
        measured: ratio(share),
        met: (strictlyFaster ? share > 1 : share >= 1) && emulator.errors === 0,
      });
    }
  }
  for (const burst of results.bursts) {
    checks.push({
      target: `1 STS call for a cold burst of ${burst.requests}, all answered`,
      runtime: burst.target,
      measured: `${burst.stsCalls} call(s), ${burst.cold.failed} failed`,
      met: burst.stsCalls === 1 && burst.cold.failed === 0,
    });
  }
  for (const entry of results.memory) {
    const growth = entry.afterTotal - entry.afterWarm;
    checks.push({
      target: `no growth beyond noise (${TARGETS.maxGrowthMiB} MiB) over ${entry.totalRequests.toLocaleString("en-US")} requests`,
      runtime: entry.target,
      measured: `${growth >= 0 ? "+" : ""}${mib(growth)} MiB`,
      met: growth < TARGETS.maxGrowthMiB,
    });
  }
  for (const entry of results.startups.filter((startup) => startup.target === "binary")) {
    checks.push({
      target: `binary healthy < ${TARGETS.maxBinaryHealthyMs} ms after exec (median)`,
      runtime: entry.target,
      measured: `${ms(entry.healthMedianMs)} ms`,
      met: entry.healthMedianMs < TARGETS.maxBinaryHealthyMs,
    });
  }
  return checks;
}

/** Formats the target checks as a Markdown table. */
export function checksTable(checks: Check[]): string[] {
  const lines = ["| target | runtime | measured | met |", "| --- | --- | ---: | --- |"];
  for (const check of checks) lines.push(`| ${check.target} | ${check.runtime} | ${check.measured} | ${check.met ? "yes" : "**no**"} |`);
  return lines;
}
