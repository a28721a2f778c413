/**
 * Soak run: a real CredProxy under steady load from several clients while the fake STS
 * slows, fails and recovers, dynamic services come and go and the config is reloaded with
 * SIGHUP. Loopback only; it stops by itself after the duration.
 *
 * Prints requests served, errors clients saw, STS calls and the process's RSS at start and
 * end. Exits 1 when a client saw an error for a service that had valid credentials.
 *
 * Usage: scripts/soak [deno|bun] [--duration SECONDS] [--clients N]
 */

import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { CredProxyProcess, sourceTarget, tempDir } from "../tests/support/credproxy-process.ts";
import { FakeSts } from "../tests/support/fake-sts.ts";

const USAGE = `Usage: scripts/soak [deno|bun] [--duration SECONDS] [--clients N]

Runs a real CredProxy against the fake STS on loopback while STS slows, fails and recovers,
services come and go and the config is reloaded; prints what clients saw and exits 1 when
any client saw an error.

  --duration SECONDS  length of the run, 30 to 1800 (default 180)
  --clients N         concurrent clients, 1 to 64 (default 6)`;

let values;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: { duration: { type: "string", default: "180" }, clients: { type: "string", default: "6" }, help: { type: "boolean", short: "h" } },
  }));
} catch (error) {
  console.error(`soak: ${(error as Error).message.split(". ")[0]}\n\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const durationMs = Number(values.duration) * 1000;
const clientCount = Number(values.clients);
if (!(durationMs >= 30_000 && durationMs <= 1_800_000) || !(clientCount >= 1 && clientCount <= 64)) {
  console.error("soak: --duration must be 30 to 1800 seconds and --clients 1 to 64");
  process.exit(2);
}

const SOURCE = { accessKeyId: "AKIASOAKSOURCE000001", secretAccessKey: "soak-source-secret-key-00000000000000000" };
const STEADY = ["web", "api", "batch"];
const tokenOf = (name: string, generation = 0) => `soak-${name}-token-${generation}-0123456789abcdef`;

// STS hands out short credentials whatever DurationSeconds requests. Their lifetime puts the
// first refresh (half way to the 60 s buffer) inside the fault phases below, at about 30% of
// the run. The cached credentials stay above the buffer until after STS recovers, at 60%.
const lifetimeSeconds = Math.round(0.6 * durationMs / 1000) + 60;
const sts = await FakeSts.start();
sts.addIdentity(SOURCE);
sts.setDurationOverride(lifetimeSeconds);

const directory = tempDir("credproxy-soak-");
const servicesDirectory = join(directory, "services.d");
const configPath = join(directory, "credproxy.yaml");
let generation = 0;
function writeMainConfig(): void {
  const services: Record<string, unknown> = {};
  for (const name of STEADY) {
    services[name] = { auth_token: tokenOf(name), assumed_role: { RoleArn: `arn:aws:iam::123456789012:role/soak-${name}`, DurationSeconds: 900 } };
  }
  // One service whose token rotates on every reload, to exercise the overlap.
  services.rotating = { auth_token: tokenOf("rotating", generation), assumed_role: { RoleArn: "arn:aws:iam::123456789012:role/soak-rotating" } };
  const config = {
    server: { host: "127.0.0.1", port: 0 },
    credentials: { refresh_buffer_seconds: 60, retry_delay: 1, request_timeout: 2, token_overlap_seconds: 600 },
    aws_defaults: {
      region: "us-east-1",
      sts_endpoint: sts.url,
      iam_keys: { aws_access_key_id: SOURCE.accessKeyId, aws_secret_access_key: SOURCE.secretAccessKey },
    },
    services,
    dynamic_services: { enabled: true, directories: [{ path: servicesDirectory }], reload_interval: 1 },
  };
  writeFileSync(configPath, stringify(config));
}
rmSync(servicesDirectory, { recursive: true, force: true });
(await import("node:fs")).mkdirSync(servicesDirectory);
writeMainConfig();

const proxy = await CredProxyProcess.start({ target: sourceTarget(), config: configPath, label: "soak", secrets: [SOURCE.secretAccessKey] });
const pid = proxy.child.pid!;
const rssStart = rssOf(pid);
const started = Date.now();
const stats = { served: 0, errors: new Map<string, number>(), dynamicServed: 0, dynamicRefused: 0, oldTokenServed: 0, reloads: 0, added: 0, removed: 0 };

function rssOf(processId: number): string {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${processId}/status`, "utf8"));
  return match ? `${(Number(match[1]) / 1024).toFixed(1)} MiB` : "unknown";
}

async function getCredentials(token: string): Promise<{ status: number; code?: string }> {
  try {
    const response = await fetch(`${proxy.url}/v1/credentials`, { headers: { Authorization: token } });
    const body = await response.json() as { Code?: string };
    return { status: response.status, code: body.Code };
  } catch (error) {
    return { status: 0, code: (error as Error).name };
  }
}

function countError(key: string): void {
  stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
}

// Clients: each requests one steady service at a time, as SDKs do, about 20 times a second.
const live = new Map<string, string>();
async function client(index: number): Promise<void> {
  for (let round = 0; Date.now() - started < durationMs; round++) {
    const name = STEADY[(index + round) % STEADY.length];
    const result = await getCredentials(tokenOf(name));
    if (result.status === 200) stats.served++;
    else countError(`${name} ${result.status} ${result.code ?? ""}`.trim());

    if (round % 10 === 0) {
      // The rotating service through its first token: it keeps working within the overlap.
      const old = await getCredentials(tokenOf("rotating", 0));
      if (old.status === 200) stats.oldTokenServed++;
      // A token-only reload keeps the broker, so this is served from cache even during an outage.
      else countError(`rotating (first token) ${old.status} ${old.code ?? ""}`.trim());
    }
    if (round % 5 === 0 && live.size > 0) {
      const [dynamicName, token] = [...live][round % live.size];
      const dynamic = await getCredentials(token);
      // A dynamic service may be removed between choosing it and asking: 401 is expected then.
      if (dynamic.status === 200) stats.dynamicServed++;
      else if (live.has(dynamicName)) stats.dynamicRefused++;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Time span of the slow phase: STS responded to calls then only after CredProxy's 2 s timeout. */
const slowPhase = { from: Infinity, to: Infinity };

// The fault schedule, as fractions of the run.
const phases: [number, string, () => void][] = [
  // The first refresh comes at about 30% of the run, inside the slow phase.
  [0.2, "STS slow (3 s stalls, 2 s timeout)", () => {
    slowPhase.from = Date.now();
    sts.stall(3000);
  }],
  [0.36, "STS failing with 503", () => {
    slowPhase.to = Date.now();
    sts.reset();
    sts.setDurationOverride(lifetimeSeconds);
    sts.fail();
  }],
  [0.45, "STS throttling", () => {
    sts.reset();
    sts.setDurationOverride(lifetimeSeconds);
    sts.throttle();
  }],
  [0.52, "STS recovered", () => {
    sts.reset();
    sts.setDurationOverride(lifetimeSeconds);
  }],
];

async function faults(): Promise<void> {
  for (const [at, label, apply] of phases) {
    const wait = started + at * durationMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    console.log(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${label}`);
    apply();
  }
}

async function churn(): Promise<void> {
  for (let step = 0; Date.now() - started < durationMs - 5000; step++) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const name = `dyn${step}`;
    const token = tokenOf(name);
    writeFileSync(join(servicesDirectory, `${name}.yaml`), stringify({ services: { [name]: { auth_token: token, source_credentials: { local: {} } } } }));
    // The file watcher needs a moment to load the file; only then do clients use it.
    setTimeout(() => live.set(name, token), 3000);
    stats.added++;
    if (step >= 3) {
      const gone = `dyn${step - 3}`;
      live.delete(gone);
      // Requests already on their way may still reach it; give them a moment.
      await new Promise((resolve) => setTimeout(resolve, 200));
      rmSync(join(servicesDirectory, `${gone}.yaml`), { force: true });
      stats.removed++;
    }
    if (step % 3 === 2) {
      generation++;
      writeMainConfig();
      process.kill(pid, "SIGHUP");
      stats.reloads++;
    }
  }
}

await Promise.all([...Array.from({ length: clientCount }, (_, index) => client(index)), faults(), churn()]);

const rssEnd = rssOf(pid);
const stsOutcomes = new Map<string, number>();
for (const call of sts.calls) {
  const at = call.at.getTime();
  const stalled = at >= slowPhase.from && at < slowPhase.to;
  // STS responds to a stalled call after CredProxy gave up on it, by whatever switch is on by then.
  const outcome = stalled ? "stalled past the timeout" : call.errorCode ?? (call.status === 0 ? "cut off" : "ok");
  const key = `${call.action} ${outcome}`;
  stsOutcomes.set(key, (stsOutcomes.get(key) ?? 0) + 1);
}
await proxy.stop();
await sts.stop();
rmSync(directory, { recursive: true, force: true });

const errorTotal = [...stats.errors.values()].reduce((sum, count) => sum + count, 0);
console.log(`
Soak of ${durationMs / 1000} s with ${clientCount} clients under ${sourceTarget().name}
  requests served (steady services): ${stats.served}
  errors seen by clients:            ${errorTotal}${[...stats.errors].map(([key, count]) => `\n    ${key}: ${count}`).join("")}
  first token of a rotated service:  ${stats.oldTokenServed} served
  dynamic services:                  ${stats.added} added, ${stats.removed} removed, ${stats.dynamicServed} requests served, ${stats.dynamicRefused} refused while present
  config reloads (SIGHUP):           ${stats.reloads}
  STS calls:                         ${sts.calls.length}${[...stsOutcomes].map(([key, count]) => `\n    ${key}: ${count}`).join("")}
  RSS:                               ${rssStart} at start, ${rssEnd} at end`);
process.exit(errorTotal === 0 ? 0 : 1);
