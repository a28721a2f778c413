import assert from "node:assert/strict";
import { test } from "node:test";
import { CredentialBroker } from "../../src/credentials/broker.ts";
import { CredentialsError } from "../../src/credentials/errors.ts";
import type { ServedCredentials } from "../../src/credentials/types.ts";
import { FakeClock, settle } from "../support/fake-clock.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const BUFFER_SECONDS = 1200;

/** Credentials valid for `lifetimeMs` from the clock's now, numbered by call. */
function fetcher(clock: FakeClock, lifetimeMs = HOUR) {
  const state = {
    calls: 0,
    failWith: undefined as CredentialsError | undefined,
    hang: false,
    fetch(): Promise<ServedCredentials> {
      state.calls++;
      if (state.hang) return new Promise(() => {});
      if (state.failWith) return Promise.reject(state.failWith);
      return Promise.resolve({
        accessKeyId: `ASIA${String(state.calls).padStart(16, "0")}`,
        secretAccessKey: `secret-${state.calls}`,
        sessionToken: `session-${state.calls}`,
        expiration: new Date(Math.floor((clock.now() + lifetimeMs) / 1000) * 1000),
      });
    },
  };
  return state;
}

function broker(clock: FakeClock, source: ReturnType<typeof fetcher>, options: { random?: () => number; fetchTimeoutSeconds?: number } = {}) {
  return new CredentialBroker({
    service: "web",
    fetch: () => source.fetch(),
    refreshBufferSeconds: BUFFER_SECONDS,
    retryDelaySeconds: 30,
    clock,
    random: options.random ?? (() => 0.5),
    fetchTimeoutSeconds: options.fetchTimeoutSeconds,
  });
}

/** A seeded generator in [0, 1), so spreads are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

test("CredentialBroker refreshes first after a jump of days", async () => {
  const clock = new FakeClock();
  const source = fetcher(clock);
  const web = broker(clock, source);
  await web.start();

  // Timers do not run while a laptop sleeps: only the wall clock moves.
  clock.jump(3 * DAY);
  const result = await web.get();

  assert.equal(result.cache, "fetched");
  assert.equal(source.calls, 2);
  assert.ok(result.credentials.expiration.getTime() - clock.now() > BUFFER_SECONDS * 1000);
  web.stop();
});

test("CredentialBroker never serves less than the buffer", async () => {
  const clock = new FakeClock();
  const source = fetcher(clock, 40 * MINUTE);
  const web = broker(clock, source, { random: seededRandom(7) });
  await web.start();

  // Steps of every size, with timers (advance) and without (jump), some failures between.
  const steps = [7, 13, 1, 29, 61, 3, 240, 17, 5, 1440, 11, 2, 19, 720, 23];
  for (const [index, minutes] of steps.entries()) {
    source.failWith = index % 4 === 3 ? new CredentialsError("ServiceUnavailable", "down") : undefined;
    if (index % 2 === 0) await clock.advance(minutes * MINUTE);
    else clock.jump(minutes * MINUTE);
    try {
      const { credentials } = await web.get();
      assert.ok(
        credentials.expiration.getTime() - clock.now() > BUFFER_SECONDS * 1000,
        `step ${index}: served credentials with ${(credentials.expiration.getTime() - clock.now()) / 1000} s left`,
      );
    } catch (error) {
      assert.ok(error instanceof CredentialsError, `step ${index}: ${error}`);
    }
  }
  web.stop();
});

test("CredentialBroker spreads refreshes of services started together", async () => {
  const clock = new FakeClock();
  const random = seededRandom(42);
  const brokers = Array.from({ length: 50 }, () => broker(clock, fetcher(clock), { random }));
  await Promise.all(brokers.map((each) => each.start()));

  const refreshTimes = brokers.map((each) => each.status().nextFetchAt!.getTime());
  const spreadMs = Math.max(...refreshTimes) - Math.min(...refreshTimes);
  // 60 min credentials, 20 min buffer: refreshes fall within the last 90 s (10% of 15 min) before the planned time.
  assert.ok(new Set(refreshTimes).size >= 45, `only ${new Set(refreshTimes).size} distinct refresh times`);
  assert.ok(spreadMs > 60_000, `refreshes spread over only ${spreadMs} ms`);
  assert.ok(spreadMs <= 90_000, `refreshes spread over ${spreadMs} ms, more than the jitter allows`);
  for (const each of brokers) each.stop();
});

test("CredentialBroker backs off throttling one step further", async () => {
  const delays: Record<string, number> = {};
  for (const code of ["Throttling", "ServiceUnavailable"]) {
    const clock = new FakeClock();
    const source = fetcher(clock);
    source.failWith = new CredentialsError(code, "failed");
    const web = broker(clock, source);
    await web.start();
    delays[code] = web.status().nextFetchAt!.getTime() - clock.now();
    web.stop();
  }
  // random 0.5: three quarters of the base delay, 30 s for a first failure, 60 s when throttled.
  assert.deepEqual(delays, { Throttling: 45_000, ServiceUnavailable: 22_500 });
});

test("CredentialBroker serves cached credentials through a long outage", async () => {
  const clock = new FakeClock();
  const source = fetcher(clock);
  const web = broker(clock, source);
  await web.start();
  const first = (await web.get()).credentials;

  source.failWith = new CredentialsError("Throttling", "Rate exceeded");
  let served = 0;
  for (let minute = 0; minute < 39; minute++) {
    await clock.advance(MINUTE);
    const result = await web.get();
    assert.equal(result.credentials.accessKeyId, first.accessKeyId);
    served++;
  }
  // 15 minutes of refresh window, retried with back-off: far fewer calls than requests.
  assert.equal(served, 39);
  assert.ok(source.calls <= 12, `${source.calls} fetches during the outage`);
  web.stop();
});

test("CredentialBroker retries before cached credentials run out", async () => {
  const clock = new FakeClock();
  const source = fetcher(clock, 12 * HOUR);
  const web = new CredentialBroker({
    service: "web",
    fetch: () => source.fetch(),
    refreshBufferSeconds: BUFFER_SECONDS,
    retryDelaySeconds: 30,
    maxRetryDelaySeconds: 3600,
    clock,
    random: () => 0.99,
  });
  await web.start();
  const { expiration } = web.status();
  const lastServable = expiration!.getTime() - BUFFER_SECONDS * 1000;

  source.failWith = new CredentialsError("Throttling", "Rate exceeded");
  let retriesBeforeEnd = 0;
  while (clock.now() < lastServable) {
    const next = web.status().nextFetchAt!.getTime();
    if (next >= lastServable) break;
    await clock.advance(next - clock.now());
    if (clock.now() < lastServable) retriesBeforeEnd++;
  }
  // Back-off up to an hour would leave the last 15 minutes without a try; the cap keeps trying.
  assert.ok(retriesBeforeEnd >= 8, `only ${retriesBeforeEnd} retries before the credentials reached the buffer`);
  web.stop();
});

test("CredentialBroker remembers a failure across a request storm", async () => {
  const clock = new FakeClock();
  const source = fetcher(clock);
  source.failWith = new CredentialsError("ServiceUnavailable", "down");
  const web = broker(clock, source);
  await web.start();

  const outcomes = await Promise.allSettled(Array.from({ length: 300 }, () => web.get()));
  assert.equal(source.calls, 1);
  assert.ok(outcomes.every((outcome) => outcome.status === "rejected" && outcome.reason.code === "ServiceUnavailable"));
  web.stop();
});

test("CredentialBroker times out a fetch that never settles", async () => {
  const clock = new FakeClock();
  const source = fetcher(clock);
  source.hang = true;
  const web = broker(clock, source, { fetchTimeoutSeconds: 40 });

  const failure = web.get().then(() => undefined, (error: CredentialsError) => error);
  await clock.advance(40_000);
  assert.equal((await failure)?.code, "Timeout");

  source.hang = false;
  await clock.advance(60_000);
  await settle();
  assert.equal((await web.get()).cache, "hit");
  web.stop();
});
