import assert from "node:assert/strict";
import { test } from "node:test";
import { CredentialBroker } from "../../src/credentials/broker.ts";
import { CredentialsError } from "../../src/credentials/errors.ts";
import type { ServedCredentials } from "../../src/credentials/types.ts";
import { FakeClock, settle } from "../support/fake-clock.ts";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const BUFFER_SECONDS = 1200;

/** A fetcher that returns credentials valid for `lifetimeMs`, or fails when told to. */
function scriptedFetcher(clock: FakeClock, lifetimeMs = HOUR) {
  const state = {
    calls: 0,
    failWith: undefined as CredentialsError | undefined,
    gate: undefined as Promise<void> | undefined,
    async fetch(): Promise<ServedCredentials> {
      state.calls++;
      if (state.gate) await state.gate;
      if (state.failWith) throw state.failWith;
      return {
        accessKeyId: `ASIA${String(state.calls).padStart(16, "0")}`,
        secretAccessKey: `secret-${state.calls}`,
        sessionToken: `session-${state.calls}`,
        expiration: new Date(Math.floor((clock.now() + lifetimeMs) / 1000) * 1000),
      };
    },
  };
  return state;
}

function makeBroker(clock: FakeClock, fetcher: ReturnType<typeof scriptedFetcher>, retryDelaySeconds = 30) {
  return new CredentialBroker({
    service: "web",
    fetch: () => fetcher.fetch(),
    refreshBufferSeconds: BUFFER_SECONDS,
    retryDelaySeconds,
    clock,
    random: () => 0.5,
  });
}

test("CredentialBroker.start() fetches before the first request", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  assert.equal(fetcher.calls, 1);
  const result = await broker.get();
  assert.equal(result.cache, "hit");
  assert.equal(fetcher.calls, 1);
  assert.equal(broker.status().state, "ready");
  broker.stop();
});

test("CredentialBroker.get() shares one fetch among 500 concurrent requests", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  let open!: () => void;
  fetcher.gate = new Promise((resolve) => (open = resolve));
  const broker = makeBroker(clock, fetcher);
  const requests = Array.from({ length: 500 }, () => broker.get());
  open();
  const results = await Promise.all(requests);
  assert.equal(fetcher.calls, 1);
  assert.equal(new Set(results.map((result) => result.credentials.accessKeyId)).size, 1);
  broker.stop();
});

test("CredentialBroker refreshes ahead of the buffer", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  const first = (await broker.get()).credentials;

  // 60 min lifetime, 20 min buffer: refresh is due 15 min (less up to 10% jitter) before the buffer.
  await clock.advance(24 * MINUTE);
  assert.equal(fetcher.calls, 1);
  await clock.advance(2 * MINUTE);
  assert.equal(fetcher.calls, 2);
  const second = (await broker.get()).credentials;
  assert.notEqual(second.accessKeyId, first.accessKeyId);
  broker.stop();
});

test("CredentialBroker never serves less than the buffer", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  for (let minute = 0; minute < 6 * 60; minute += 7) {
    await clock.advance(7 * MINUTE);
    const { credentials } = await broker.get();
    const left = credentials.expiration.getTime() - clock.now();
    assert.ok(left > BUFFER_SECONDS * 1000, `at minute ${minute} only ${left / 1000} s were left`);
  }
  broker.stop();
});

test("CredentialBroker keeps serving cached credentials while STS fails", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  const cached = (await broker.get()).credentials;
  fetcher.failWith = new CredentialsError("ServiceUnavailable", "STS is down");

  await clock.advance(30 * MINUTE);
  assert.ok(fetcher.calls > 1, "the broker should have tried to refresh");
  const during = await broker.get();
  assert.equal(during.credentials.accessKeyId, cached.accessKeyId);
  assert.equal(broker.status().lastErrorCode, "ServiceUnavailable");
  broker.stop();
});

test("CredentialBroker answers 503-class errors once nothing valid is left", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  fetcher.failWith = new CredentialsError("ServiceUnavailable", "STS is down");
  await clock.advance(41 * MINUTE);
  await assert.rejects(broker.get(), (error: unknown) => error instanceof CredentialsError && error.code === "ServiceUnavailable");
  assert.equal(broker.status().state, "failing");
  broker.stop();
});

test("CredentialBroker recovers when STS comes back", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  const broker = makeBroker(clock, fetcher);
  fetcher.failWith = new CredentialsError("Throttling", "Rate exceeded");
  await broker.start();
  await assert.rejects(broker.get());
  fetcher.failWith = undefined;
  await clock.advance(5 * MINUTE);
  const { credentials } = await broker.get();
  assert.ok(credentials.expiration.getTime() - clock.now() > BUFFER_SECONDS * 1000);
  assert.equal(broker.status().state, "ready");
  broker.stop();
});

test("CredentialBroker does not turn a request storm into an STS storm", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  fetcher.failWith = new CredentialsError("ServiceUnavailable", "STS is down");
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  const callsAfterStart = fetcher.calls;
  for (let i = 0; i < 200; i++) await assert.rejects(broker.get());
  assert.equal(fetcher.calls, callsAfterStart);
  broker.stop();
});

test("CredentialBroker backs off exponentially", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  fetcher.failWith = new CredentialsError("ServiceUnavailable", "STS is down");
  const broker = makeBroker(clock, fetcher, 10);
  await broker.start();
  const delays: number[] = [];
  let last = clock.now();
  let calls = fetcher.calls;
  while (delays.length < 6) {
    await clock.advance(1000);
    if (fetcher.calls !== calls) {
      delays.push(clock.now() - last);
      last = clock.now();
      calls = fetcher.calls;
    }
  }
  // random() is fixed at 0.5, so each delay is 75% of 10 s, 20 s, 40 s … capped at 300 s.
  assert.deepEqual(delays, [8000, 15000, 30000, 60000, 120000, 225000]);
  broker.stop();
});

test("CredentialBroker refreshes on request after a sleep", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  // Timers do not fire while the machine sleeps; the wall clock jumps two days.
  clock.jump(48 * HOUR);
  const { credentials, cache } = await broker.get();
  assert.equal(cache, "fetched");
  assert.ok(credentials.expiration.getTime() - clock.now() > BUFFER_SECONDS * 1000);
  broker.stop();
});

test("CredentialBroker rejects credentials that expire within the buffer", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock, 10 * MINUTE);
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  await assert.rejects(broker.get(), (error: unknown) => error instanceof CredentialsError && error.code === "ExpirationTooSoon");
  broker.stop();
});

test("CredentialBroker.stop() cancels timers and refuses requests", async () => {
  const clock = new FakeClock();
  const fetcher = scriptedFetcher(clock);
  const broker = makeBroker(clock, fetcher);
  await broker.start();
  assert.equal(clock.pendingTimers, 1);
  broker.stop();
  assert.equal(clock.pendingTimers, 0);
  await clock.advance(10 * HOUR);
  await settle();
  assert.equal(fetcher.calls, 1);
  await assert.rejects(broker.get(), (error: unknown) => error instanceof CredentialsError && error.code === "ServiceRemoved");
});
