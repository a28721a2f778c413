/**
 * Measurement 6: time from exec to the first 200 from `/health` and to the first
 * credentials served from the warm cache.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, sleep, startChild, stopChild } from "./children.ts";
import { WEB_TOKEN, writeLocalConfig } from "./configs.ts";
import type { Settings } from "./throughput.ts";
import type { Target } from "./targets.ts";

/** Results of measurement 6 for one target, times in milliseconds. */
export interface StartupResult {
  target: string;
  runs: number;
  healthMedianMs: number;
  healthMaxMs: number;
  credentialsMedianMs: number;
  credentialsMaxMs: number;
  /** Median of `credproxy --version` from exec to exit, by hyperfine, as the runtime's own start time. */
  versionMedianMs: number;
}

/**
 * Starts CredProxy `runs` times and measures each start. The clock starts just before the
 * spawn. The script then requests `/health` every millisecond until it returns 200, and
 * then `/v1/credentials` until it returns 200. `serve` fetches every service's credentials
 * before it listens, so the first credentials come from the cache.
 */
export async function measureStartup(target: Target, settings: Settings, runs: number): Promise<StartupResult> {
  const health: number[] = [];
  const credentials: number[] = [];
  for (let run = 0; run < runs; run++) {
    const port = await freePort();
    const config = writeLocalConfig(settings.workDirectory, `${target.name}-startup`, { port });
    const base = `http://127.0.0.1:${port}`;
    const started = performance.now();
    const child = startChild(`${target.name} CredProxy (start-up)`, [...target.credproxy, "serve", "--config", config, "--log-level", settings.logLevel], {
      cpus: settings.serverCpus,
    });
    try {
      let exited = false;
      child.exited.then(() => (exited = true));
      health.push(await firstOk(`${base}/health`, {}, started, () => exited));
      credentials.push(await firstOk(`${base}/v1/credentials`, { Authorization: WEB_TOKEN }, started, () => exited));
    } finally {
      await stopChild(child);
    }
  }
  const versionMedianMs = hyperfineMedian([...target.credproxy, "--version"], runs, settings);
  const result = {
    target: target.name,
    runs,
    healthMedianMs: median(health),
    healthMaxMs: Math.max(...health),
    credentialsMedianMs: median(credentials),
    credentialsMaxMs: Math.max(...credentials),
    versionMedianMs,
  };
  settings.progress(`  ${target.name} start-up: healthy after ${result.healthMedianMs.toFixed(0)} ms (median of ${runs})`);
  return result;
}

/**
 * Returns the milliseconds from `started` to the first 200 from `url`. Throws after 30 s or
 * when the process exits.
 */
async function firstOk(url: string, headers: Record<string, string>, started: number, exited: () => boolean): Promise<number> {
  while (performance.now() - started < 30_000 && !exited()) {
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return performance.now() - started;
    } catch {
      // Not listening yet.
    }
    await sleep(1);
  }
  throw new Error(`${url} did not return 200 within 30 s of the start${exited() ? " because the process exited" : ""}`);
}

/** Measures the median wall time of `argv` from exec to exit with hyperfine, without a shell. */
function hyperfineMedian(argv: string[], runs: number, settings: Settings): number {
  const exportPath = join(settings.workDirectory, "hyperfine.json");
  const command = argv.map((word) => (/^[\w./:=@+-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`)).join(" ");
  const hyperfine = ["hyperfine", "--shell=none", "--warmup", "1", "--runs", String(Math.max(runs, 3)), "--export-json", exportPath, command];
  // Runs on the servers' CPUs, like the start-ups measured above.
  const argvPinned = settings.serverCpus === undefined ? hyperfine : ["taskset", "-c", settings.serverCpus, ...hyperfine];
  const result = spawnSync(argvPinned[0], argvPinned.slice(1), { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`hyperfine exited with ${result.status}: ${result.stderr}`);
  const report = JSON.parse(readFileSync(exportPath, "utf8")) as { results: { median: number }[] };
  return report.results[0].median * 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
