/**
 * The benchmark behind `scripts/bench`: measures CredProxy under `deno run`, `bun run` and
 * as the compiled binary against a bare Hono server, socat, a cold cache, long runs and
 * start-up, and prints a Markdown report on standard output (progress goes to standard
 * error). Run it through `scripts/bench`, which pins it to its CPU.
 *
 * @module
 */

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { measureBurst } from "./burst.ts";
import { killAllChildrenNow, stopAllChildren } from "./children.ts";
import { measureMemory } from "./memory.ts";
import {
  burstTable,
  ceilingTable,
  checksTable,
  checkTargets,
  describeMachine,
  emulatorTable,
  loadAverage,
  memoryTable,
  type Results,
  startupTable,
} from "./report.ts";
import { measureStartup } from "./startup.ts";
import { BINARY_PATH, createTarget, runtimeVersions, TARGET_NAMES, type TargetName } from "./targets.ts";
import { measureThroughput, type Settings } from "./throughput.ts";

const SECTIONS = ["ceiling", "emulator", "burst", "memory", "startup"] as const;
type Section = (typeof SECTIONS)[number];

const USAGE = `Usage: scripts/bench [--quick] [--targets LIST] [--only LIST] [--seconds N] [--long-run N]
                     [--log-level LEVEL] [--keep]

Measures CredProxy and prints a Markdown report on standard output; progress goes to
standard error. Servers run on CPU 0, wrk and this script on CPU 1 (when there are two).

  --quick            smoke run: 1 s per point, 16 connections only, small burst and long
                     run, bun only unless --targets says otherwise (about 20 s)
  --targets LIST     comma-separated: deno, bun, binary (default: all three; binary needs
                     scripts/build first and is skipped with a note when missing)
  --only LIST        comma-separated sections: ${SECTIONS.join(", ")} (default: all)
  --seconds N        seconds per wrk point (default 5)
  --long-run N       upper bound of the memory section's run toward 1,000,000 requests, in
                     seconds (default 30; 1,000,000 needs about 1000000 / req/s)
  --log-level LEVEL  CredProxy's --log-level (default info: one log line per request)
  --keep             keep the work directory with configs and server logs`;

/** Sizes of one run; `--quick` shrinks every one of them. */
interface Plan {
  targets: TargetName[];
  sections: Set<Section>;
  seconds: number;
  warmUpSeconds: number;
  settleSeconds: number;
  connections: number[];
  emulatorConnections: number[];
  burstRequests: number;
  burstStallMs: number;
  manyServices: number;
  warmRequests: number;
  totalRequests: number;
  /** Upper bound of the long run of measurement 5, in seconds. */
  longRunSeconds: number;
  startupRuns: number;
  logLevel: string;
  keep: boolean;
  notes: string[];
}

function parsePlan(argv: string[]): Plan | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean" },
      targets: { type: "string" },
      only: { type: "string" },
      seconds: { type: "string" },
      "long-run": { type: "string" },
      "log-level": { type: "string" },
      keep: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const quick = values.quick ?? false;
  const notes: string[] = [];
  const list = <T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] | undefined => {
    if (value === undefined) return undefined;
    const names = value.split(",").map((name) => name.trim()).filter((name) => name !== "");
    for (const name of names) {
      if (!(allowed as readonly string[]).includes(name)) throw new Error(`Invalid ${flag} entry "${name}": expected some of ${allowed.join(", ")}`);
    }
    return names as T[];
  };

  let targets = list(values.targets, TARGET_NAMES, "--targets");
  if (targets === undefined) {
    targets = quick ? ["bun"] : [...TARGET_NAMES];
    if (!quick && !existsSync(BINARY_PATH)) {
      targets = targets.filter((name) => name !== "binary");
      notes.push(`The binary was not measured: ${BINARY_PATH} does not exist (run scripts/build first).`);
    }
  }
  const seconds = parseSeconds(values.seconds, quick ? 1 : 5, "--seconds", 60);
  return {
    targets,
    sections: new Set(list(values.only, SECTIONS, "--only") ?? SECTIONS),
    seconds,
    warmUpSeconds: quick ? 0 : 1,
    settleSeconds: quick ? 0.5 : 2,
    connections: quick ? [16] : [1, 16, 64],
    emulatorConnections: [16],
    burstRequests: quick ? 100 : 1000,
    burstStallMs: 200,
    manyServices: quick ? 20 : 1000,
    warmRequests: quick ? 2_000 : 100_000,
    totalRequests: quick ? 6_000 : 1_000_000,
    longRunSeconds: parseSeconds(values["long-run"], quick ? 3 : 30, "--long-run", 3600),
    startupRuns: quick ? 2 : 8,
    logLevel: values["log-level"] ?? "info",
    keep: values.keep ?? false,
    notes,
  };
}

function parseSeconds(value: string | undefined, fallback: number, flag: string, max: number): number {
  if (value === undefined) return fallback;
  const seconds = Number(value);
  if (!(Number.isInteger(seconds) && seconds >= 1 && seconds <= max)) throw new Error(`Invalid ${flag} "${value}": expected a whole number of seconds from 1 to ${max}`);
  return seconds;
}

async function run(plan: Plan, command: string, workDirectory: string): Promise<Results> {
  const began = performance.now();
  const progress = (line: string) => process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  const twoCpus = cpus().length >= 2;
  const settings: Settings = {
    seconds: plan.seconds,
    warmUpSeconds: plan.warmUpSeconds,
    settleSeconds: plan.settleSeconds,
    connections: plan.connections,
    emulatorConnections: plan.emulatorConnections,
    ceiling: plan.sections.has("ceiling"),
    emulator: plan.sections.has("emulator"),
    serverCpus: twoCpus ? "0" : undefined,
    clientCpus: twoCpus ? "1" : undefined,
    logLevel: plan.logLevel,
    workDirectory,
    progress,
  };
  const results: Results = { points: [], logLinesPerRequest: {}, bursts: [], memory: [], startups: [] };
  const loadBefore = loadAverage();
  progress(`Work directory ${workDirectory}`);
  try {
    for (const name of plan.targets) {
      const target = createTarget(name, workDirectory);
      progress(`${name}:`);
      if (settings.ceiling || settings.emulator) {
        const throughput = await measureThroughput(target, settings);
        results.points.push(...throughput.points);
        results.logLinesPerRequest[name] = throughput.logLinesPerRequest;
      }
      if (plan.sections.has("burst")) results.bursts.push(await measureBurst(target, settings, plan.burstRequests, plan.burstStallMs));
      if (plan.sections.has("memory")) {
        results.memory.push(await measureMemory(target, settings, {
          manyServices: plan.manyServices,
          warmRequests: plan.warmRequests,
          totalRequests: plan.totalRequests,
          maxSeconds: plan.longRunSeconds,
        }));
      }
      if (plan.sections.has("startup")) results.startups.push(await measureStartup(target, settings, plan.startupRuns));
    }
  } finally {
    await stopAllChildren();
  }
  const elapsed = (performance.now() - began) / 1000;
  printReport(plan, results, { command, twoCpus, loadBefore, elapsed });
  return results;
}

function printReport(plan: Plan, results: Results, run: { command: string; twoCpus: boolean; loadBefore: string; elapsed: number }): void {
  const versions = runtimeVersions();
  const lines: string[] = [
    "## Run",
    "",
    `- Command: \`${run.command}\``,
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    `- Machine: ${describeMachine()}`,
    `- Load average (1, 5, 15 min): ${run.loadBefore} before, ${loadAverage()} after`,
    `- Runtimes: ${Object.entries(versions).map(([name, version]) => `${name}: ${version}`).join("; ")}`,
    run.twoCpus
      ? "- Placement: every server (CredProxy, bare Hono, sidecar, socat) pinned to CPU 0; wrk (one thread) and the benchmark script to CPU 1"
      : "- Placement: one CPU, so servers and wrk share it",
    `- ${plan.seconds} s per wrk point, after ${plan.warmUpSeconds} s of unmeasured traffic to each server; CredProxy runs with --log-level ${plan.logLevel} and logs to a file`,
    `- Duration of the whole run: ${run.elapsed.toFixed(0)} s`,
    ...plan.notes.map((note) => `- ${note}`),
  ];
  if (results.points.some((point) => point.server === "CredProxy")) {
    lines.push("", "## 1. Warm credential requests, keep-alive", "", ...ceilingTable(results.points, "keep-alive"));
    lines.push("", "## 2. New connection per request (`Connection: close`)", "", ...ceilingTable(results.points, "close"));
  }
  if (results.points.some((point) => point.server === "socat")) {
    lines.push("", "## 3. Metadata endpoint: sidecar and in-process against socat", "", ...emulatorTable(results.points));
  }
  const logRatios = Object.entries(results.logLinesPerRequest);
  if (logRatios.length > 0) {
    lines.push("", `Request log lines per credentials request CredProxy served: ${logRatios.map(([name, value]) => `${name} ${value.toFixed(3)}`).join(", ")}.`);
  }
  if (results.bursts.length > 0) lines.push("", "## 4. Cold burst", "", ...burstTable(results.bursts));
  if (results.memory.length > 0) lines.push("", "## 5. Resident memory (MiB)", "", ...memoryTable(results.memory));
  if (results.startups.length > 0) lines.push("", "## 6. Start-up", "", ...startupTable(results.startups));
  lines.push("", "## Targets", "", ...checksTable(checkTargets(results)));
  console.log(lines.join("\n"));
}

const command = ["scripts/bench", ...process.argv.slice(2)].join(" ");
let plan: Plan | undefined;
try {
  plan = parsePlan(process.argv.slice(2));
} catch (error) {
  console.error(`scripts/bench: ${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (plan) {
  const workDirectory = mkdtempSync(join(tmpdir(), "credproxy-bench-"));
  const keep = plan.keep;
  const removeWorkDirectory = () => {
    if (!keep) rmSync(workDirectory, { recursive: true, force: true });
  };
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`scripts/bench: ${signal}; stopping every server\n`);
      await stopAllChildren();
      removeWorkDirectory();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
  // The last resort when something exits the process without the cleanup above.
  process.on("exit", killAllChildrenNow);
  let status = 0;
  try {
    await run(plan, command, workDirectory);
  } catch (error) {
    console.error(`scripts/bench: ${(error as Error).stack ?? error}`);
    status = 1;
  }
  removeWorkDirectory();
  process.exit(status);
}
