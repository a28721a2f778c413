/**
 * Measurement 4: a burst of concurrent requests on an empty cache, with the fake STS
 * responding to AssumeRole after a delay.
 *
 * @module
 */

import { connect } from "node:net";
import { join } from "node:path";
import { FakeSts } from "../../tests/support/fake-sts.ts";
import { freePort, startChild, stopChild, waitForStatus } from "./children.ts";
import { SOURCE_KEYS, WEB_TOKEN, writeStsConfig } from "./configs.ts";
import type { Settings } from "./throughput.ts";
import type { Target } from "./targets.ts";

/** Outcome of the requests of one burst. */
export interface BurstRun {
  /** Time from the first connection attempt to the last complete response, in milliseconds. */
  allAnsweredMs: number;
  /** Median time of one request, from its connection attempt to its complete response. */
  p50Ms: number;
  /** Responses with status 200 that carry the same AccessKeyId as the others. */
  ok: number;
  /** Requests that failed with another status, a reset or a second AccessKeyId. */
  failed: number;
  /** Description of the first failure, for the report. */
  firstFailure?: string;
}

/** Results of measurement 4 for one target. */
export interface BurstResult {
  target: string;
  requests: number;
  stallMs: number;
  /** AssumeRole calls the fake STS received during the cold burst. */
  stsCalls: number;
  cold: BurstRun;
  /** Second burst, served from the cache, to show how much the STS delay adds. */
  warm: BurstRun;
}

/**
 * Starts `cold-serve.ts` (CredProxy with brokers not started) against a fake STS that
 * responds to AssumeRole after `stallMs`. Then sends `requests` requests at once, each on
 * its own connection, and sends the same burst again.
 */
export async function measureBurst(target: Target, settings: Settings, requests: number, stallMs: number): Promise<BurstResult> {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE_KEYS);
  sts.stall(stallMs, { action: "AssumeRole" });
  const port = await freePort();
  const config = writeStsConfig(settings.workDirectory, `${target.name}-burst`, port, sts.url);
  const child = startChild(`${target.name} cold CredProxy`, [...target.coldServe, "--config", config, "--port", String(port), "--log-level", settings.logLevel], {
    cpus: settings.serverCpus,
    logPath: join(settings.workDirectory, `${target.name}-burst.log`),
  });
  try {
    await waitForStatus(child, `http://127.0.0.1:${port}/health`);
    if (sts.count("AssumeRole") !== 0) throw new Error(`The cold CredProxy called AssumeRole before the burst; its cache is not empty`);
    const cold = await burst(port, requests);
    const stsCalls = sts.count("AssumeRole");
    const warm = await burst(port, requests);
    settings.progress(`  ${target.name} burst of ${requests}: ${stsCalls} STS call(s), all answered in ${Math.round(cold.allAnsweredMs)} ms`);
    return { target: target.name, requests, stallMs, stsCalls, cold, warm };
  } finally {
    await stopChild(child);
    await sts.stop();
  }
}

/** Sends `count` credential requests at once, each on a new connection. */
async function burst(port: number, count: number): Promise<BurstRun> {
  const request = `GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${WEB_TOKEN}\r\nConnection: close\r\n\r\n`;
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: count }, () => exchange(port, request)));
  const allAnsweredMs = performance.now() - started;

  const durations = answers.map((answer) => answer.ms).sort((a, b) => a - b);
  const keyIds = new Map<string, number>();
  for (const answer of answers) if (answer.accessKeyId) keyIds.set(answer.accessKeyId, (keyIds.get(answer.accessKeyId) ?? 0) + 1);
  const [mainKeyId] = [...keyIds.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
  const failures = answers.filter((answer) => answer.status !== 200 || answer.accessKeyId !== mainKeyId);
  return {
    allAnsweredMs,
    p50Ms: durations[Math.floor(durations.length / 2)],
    ok: count - failures.length,
    failed: failures.length,
    firstFailure: failures[0] && (failures[0].error ?? `status ${failures[0].status}${failures[0].accessKeyId !== mainKeyId ? ", another AccessKeyId" : ""}`),
  };
}

interface Answer {
  status: number;
  accessKeyId?: string;
  error?: string;
  ms: number;
}

/** Writes one request on a new connection and reads until the server closes it. */
function exchange(port: number, request: string): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(request));
    socket.setTimeout(10_000, () => socket.destroy(new Error("no response within 10 s")));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      const ms = performance.now() - started;
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const accessKeyId = /"AccessKeyId":"([^"]+)"/.exec(text)?.[1];
      // A complete response followed by a reset still counts, because the server responded.
      if (status !== 0) resolve({ status, accessKeyId, ms });
      else resolve({ status, ms, error: error?.message ?? "connection closed without a response" });
    };
    socket.on("end", () => finish());
    socket.on("error", (error) => finish(error));
    socket.on("close", () => finish());
  });
}
