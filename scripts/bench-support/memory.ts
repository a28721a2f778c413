/**
 * Measurement 5: resident size idle with 1 and with many services, and its growth over a
 * long run of warm requests.
 *
 * @module
 */

import { join } from "node:path";
import { freePort, residentMiB, sleep, startChild, stopChild, waitForStatus } from "./children.ts";
import { WEB_TOKEN, writeLocalConfig } from "./configs.ts";
import type { Settings } from "./throughput.ts";
import type { Target } from "./targets.ts";
import { runWrk } from "./wrk.ts";

/** Connections of the long run: keep-alive, as SDKs in a busy application hold them. */
const LONG_RUN_CONNECTIONS = 16;

/** Results of measurement 5 for one target, sizes in MiB. */
export interface MemoryResult {
  target: string;
  idleOneService: number;
  manyServices: number;
  idleManyServices: number;
  /** Requests served before the first reading under load (the warm-up), and in total. */
  warmRequests: number;
  totalRequests: number;
  afterWarm: number;
  afterTotal: number;
}

/**
 * Reads the resident size of CredProxy idle with 1 service, after `warmRequests` requests
 * and after `totalRequests`; then of a CredProxy with `manyServices` services. The long run
 * stops early once it has taken `maxSeconds`, and the result has the count it reached.
 */
export async function measureMemory(
  target: Target,
  settings: Settings,
  counts: { manyServices: number; warmRequests: number; totalRequests: number; maxSeconds: number },
): Promise<MemoryResult> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = writeLocalConfig(settings.workDirectory, `${target.name}-memory-1`, { port });
  const one = startChild(`${target.name} CredProxy (1 service)`, [...target.credproxy, "serve", "--config", config, "--log-level", settings.logLevel], {
    cpus: settings.serverCpus,
    logPath: join(settings.workDirectory, `${target.name}-memory-1.log`),
  });
  let idleOneService: number;
  let afterWarm: number;
  let afterTotal: number;
  let served = 0;
  try {
    await waitForStatus(one, `${url}/health`);
    await sleep(settings.settleSeconds * 1000);
    idleOneService = residentMiB(one.pid);

    // wrk bounds a run by time only, so the run goes in pieces sized by the rate so far.
    let rate = 5000;
    const deadline = performance.now() + counts.maxSeconds * 1000;
    const serveUntil = async (total: number) => {
      while (served < total && performance.now() < deadline) {
        const secondsLeft = Math.ceil((deadline - performance.now()) / 1000);
        const seconds = Math.min(10, secondsLeft, Math.max(1, Math.ceil((total - served) / rate)));
        const result = await runWrk({
          url: `${url}/v1/credentials`,
          connections: LONG_RUN_CONNECTIONS,
          seconds,
          headers: { Authorization: WEB_TOKEN },
          cpus: settings.clientCpus,
        });
        if (result.errors > 0) throw new Error(`${result.errors} of ${result.requests} requests failed during the long run of ${target.name}`);
        served += result.requests;
        rate = Math.max(1000, result.requestsPerSecond);
      }
    };
    await serveUntil(counts.warmRequests);
    afterWarm = residentMiB(one.pid);
    const warmServed = served;
    await serveUntil(counts.totalRequests);
    afterTotal = residentMiB(one.pid);
    settings.progress(`  ${target.name} memory: ${idleOneService.toFixed(1)} MiB idle, ${afterWarm.toFixed(1)} after ${warmServed} requests, ${afterTotal.toFixed(1)} after ${served}`);
    counts = { ...counts, warmRequests: warmServed };
  } finally {
    await stopChild(one);
  }

  const manyPort = await freePort();
  const manyConfig = writeLocalConfig(settings.workDirectory, `${target.name}-memory-many`, { port: manyPort, services: counts.manyServices });
  const many = startChild(`${target.name} CredProxy (${counts.manyServices} services)`, [...target.credproxy, "serve", "--config", manyConfig, "--log-level", settings.logLevel], {
    cpus: settings.serverCpus,
    logPath: join(settings.workDirectory, `${target.name}-memory-many.log`),
  });
  let idleManyServices: number;
  try {
    await waitForStatus(many, `http://127.0.0.1:${manyPort}/health`, { timeoutMs: 60_000 });
    await sleep(settings.settleSeconds * 1000);
    idleManyServices = residentMiB(many.pid);
  } finally {
    await stopChild(many);
  }

  return {
    target: target.name,
    idleOneService,
    manyServices: counts.manyServices,
    idleManyServices,
    warmRequests: counts.warmRequests,
    totalRequests: served,
    afterWarm,
    afterTotal,
  };
}
