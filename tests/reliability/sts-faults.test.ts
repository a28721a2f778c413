import assert from "node:assert/strict";
import { test } from "node:test";
import type { AssumedRoleConfig, SourceCredentialsConfig } from "../../src/config/schema.ts";
import { CredentialBroker } from "../../src/credentials/broker.ts";
import { CredentialsError } from "../../src/credentials/errors.ts";
import { createCredentialFetcher } from "../../src/credentials/service-credentials.ts";
import { type ClockSkewEvent, clockSkewOf, type DurationCappedEvent } from "../../src/credentials/sts.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { FakeSts } from "../support/fake-sts.ts";

const MINUTE = 60_000;
const SOURCE_KEYS = { accessKeyId: "AKIASTSFAULTSOURCE01", secretAccessKey: "sts-faults-source-secret-0000000000000000" };
const ROLE: AssumedRoleConfig = { RoleArn: "arn:aws:iam::123456789012:role/faults", DurationSeconds: 3600 };

interface Setup {
  sts: FakeSts;
  clock: FakeClock;
  broker: CredentialBroker;
  skews: ClockSkewEvent[];
  capped: DurationCappedEvent[];
  stop(): Promise<void>;
}

/** A broker on the real fetcher and the fake STS; the broker's clock starts at the real time. */
async function setup(options: { role?: AssumedRoleConfig; sessionToken?: string; requestTimeoutMs?: number } = {}): Promise<Setup> {
  const sts = await FakeSts.start();
  sts.addIdentity({ ...SOURCE_KEYS, sessionToken: options.sessionToken });
  const clock = new FakeClock(Date.now());
  const skews: ClockSkewEvent[] = [];
  const capped: DurationCappedEvent[] = [];
  const source: SourceCredentialsConfig = {
    region: "us-east-1",
    sts_endpoint: sts.url,
    iam_keys: { aws_access_key_id: SOURCE_KEYS.accessKeyId, aws_secret_access_key: SOURCE_KEYS.secretAccessKey, session_token: options.sessionToken },
  };
  const fetch = createCredentialFetcher({
    serviceName: "faults",
    source,
    role: options.role ?? ROLE,
    requestTimeoutMs: options.requestTimeoutMs ?? 5000,
    env: {},
    now: () => clock.now(),
    observer: { onClockSkew: (event) => skews.push(event), onDurationCapped: (event) => capped.push(event) },
  });
  const broker = new CredentialBroker({ service: "faults", fetch, refreshBufferSeconds: 1200, retryDelaySeconds: 30, clock, random: () => 0.5 });
  return {
    sts,
    clock,
    broker,
    skews,
    capped,
    async stop() {
      broker.stop();
      await sts.stop();
    },
  };
}

/** Waits until `condition` holds; the broker's timers start real STS calls that take real time. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

for (const [fault, apply, code] of [
  ["throttling", (sts: FakeSts) => sts.throttle(), "Throttling"],
  ["5xx", (sts: FakeSts) => sts.fail(), "ServiceUnavailable"],
] as const) {
  test(`CredentialBroker serves cached credentials while STS answers ${fault}`, async () => {
    const { sts, clock, broker, stop } = await setup();
    await broker.start();
    const first = (await broker.get()).credentials;

    apply(sts);
    await clock.advance(26 * MINUTE);
    await until(() => broker.status().lastErrorCode === code, `a failed refresh with ${code}`);

    // The timers may have retried already, depending on how fast STS answered; requests add no call.
    const callsBefore = sts.count("AssumeRole");
    const results = await Promise.all(Array.from({ length: 100 }, () => broker.get()));
    assert.ok(results.every((result) => result.credentials.accessKeyId === first.accessKeyId));
    assert.equal(sts.count("AssumeRole"), callsBefore);
    assert.ok(callsBefore >= 2, `${callsBefore} AssumeRole calls`);

    sts.reset();
    await clock.advance(2 * MINUTE);
    await until(() => broker.status().lastErrorCode === undefined, "a successful retry");
    assert.notEqual((await broker.get()).credentials.accessKeyId, first.accessKeyId);
    await stop();
  });
}

test("CredentialBroker times out a stalled STS and keeps serving", async () => {
  const { sts, clock, broker, stop } = await setup({ requestTimeoutMs: 300 });
  await broker.start();
  const first = (await broker.get()).credentials;

  sts.stall(5000);
  await clock.advance(26 * MINUTE);
  await until(() => broker.status().lastErrorCode === "Timeout", "the refresh to time out");
  assert.equal((await broker.get()).credentials.accessKeyId, first.accessKeyId);
  await stop();
});

test("CredentialBroker makes one STS call for a cold request storm", async () => {
  const { sts, broker, stop } = await setup();
  sts.fail();
  const first = await Promise.allSettled(Array.from({ length: 200 }, () => broker.get()));
  const second = await Promise.allSettled(Array.from({ length: 200 }, () => broker.get()));

  assert.equal(sts.count("AssumeRole"), 1);
  for (const outcome of [...first, ...second]) {
    assert.equal(outcome.status, "rejected");
    assert.equal((outcome as PromiseRejectedResult).reason.code, "ServiceUnavailable");
  }
  await stop();
});

test("createCredentialFetcher() retries role chaining once at 3600", async () => {
  const { sts, broker, capped, stop } = await setup({
    role: { ...ROLE, DurationSeconds: 7200 },
    sessionToken: "source-session-token-for-role-chaining",
  });
  await broker.start();

  const durations = sts.calls.map((call) => [call.params.DurationSeconds, call.errorCode ?? "ok"]);
  assert.deepEqual(durations, [["7200", "ValidationError"], ["3600", "ok"]]);
  assert.deepEqual(capped, [{ roleArn: ROLE.RoleArn, requestedSeconds: 7200, grantedSeconds: 3600 }]);
  assert.equal(broker.status().state, "ready");
  await stop();
});

test("createCredentialFetcher() asks for 3600 after STS capped once", async () => {
  const { sts, clock, broker, stop } = await setup({
    role: { ...ROLE, DurationSeconds: 7200 },
    sessionToken: "source-session-token-for-role-chaining",
  });
  await broker.start();
  await clock.advance(30 * MINUTE);
  await until(() => sts.count("AssumeRole") === 3, "the refresh");

  assert.deepEqual(sts.calls.map((call) => call.params.DurationSeconds), ["7200", "3600", "3600"]);
  await stop();
});

test("CredentialBroker schedules refresh from the Expiration STS returned", async () => {
  const { sts, clock, broker, stop } = await setup();
  sts.setDurationOverride(2400);
  await broker.start();

  const { expiration, nextFetchAt } = broker.status();
  const lifetimeMs = expiration!.getTime() - clock.now();
  assert.ok(lifetimeMs <= 2400_000, `lifetime ${lifetimeMs} ms`);
  assert.ok(lifetimeMs > 2390_000, `lifetime ${lifetimeMs} ms`);
  // 40 min credentials, 20 min buffer: refresh half-way through the 20 minutes before the buffer, less jitter.
  const refreshInMs = nextFetchAt!.getTime() - clock.now();
  assert.ok(refreshInMs <= 10 * MINUTE, `refresh in ${refreshInMs} ms`);
  assert.ok(refreshInMs > 8 * MINUTE, `refresh in ${refreshInMs} ms`);
  await stop();
});

test("createCredentialFetcher() signs again with STS's clock on skew", async () => {
  const { sts, broker, skews, stop } = await setup();
  sts.setClockOffset(3600);
  await broker.start();

  assert.equal(broker.status().state, "ready");
  assert.deepEqual(sts.calls.map((call) => call.errorCode ?? "ok"), ["SignatureDoesNotMatch", "ok"]);
  assert.equal(skews.length, 1);
  assert.equal(skews[0].action, "AssumeRole");
  assert.ok(Math.abs(skews[0].skewMs - 3600_000) < 5000, `skew ${skews[0].skewMs} ms`);
  await stop();
});

test("createCredentialFetcher() does not retry a wrong secret key", async () => {
  const { sts, broker, skews, stop } = await setup();
  sts.addIdentity({ accessKeyId: SOURCE_KEYS.accessKeyId, secretAccessKey: "a-different-secret-key-0000000000000000" });
  await broker.start();

  assert.deepEqual(sts.calls.map((call) => call.errorCode), ["SignatureDoesNotMatch"]);
  assert.deepEqual(skews, []);
  assert.equal(broker.status().lastErrorCode, "SignatureDoesNotMatch");
  await stop();
});

test("clockSkewOf() reads RequestExpired with a Date header", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  const error = Object.assign(new Error("Request has expired"), {
    name: "RequestExpired",
    $response: { headers: { date: "Thu, 01 Jan 2026 12:10:00 GMT" } },
  });
  assert.equal(clockSkewOf(error, now), 10 * MINUTE);
});

test("clockSkewOf() ignores errors without a Date header", () => {
  const error = Object.assign(new Error("Request has expired"), { name: "RequestExpired", $response: { headers: {} } });
  assert.equal(clockSkewOf(error), undefined);
});

test("CredentialsError from STS quotes no request value", async () => {
  const { sts, broker, stop } = await setup({ role: { ...ROLE, ExternalId: "external-id-secret-value" } });
  sts.deny();
  await broker.start();
  const failure = await broker.get().then(() => undefined, (error: CredentialsError) => error);

  assert.equal(failure?.code, "AccessDenied");
  assert.ok(failure instanceof CredentialsError);
  assert.ok(!failure.message.includes("external-id-secret-value"));
  await stop();
});
