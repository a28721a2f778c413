import assert from "node:assert/strict";
import { test } from "node:test";
import { waitUntilHealthy } from "../../src/metadata/sidecar.ts";

function upstreamHealthyAfter(failures: number) {
  let calls = 0;
  return {
    calls: () => calls,
    health() {
      calls++;
      return Promise.resolve(calls > failures ? { status: 200, body: { status: "ok" } } : { status: 502, body: {} });
    },
  };
}

test("waitUntilHealthy() doubles the delay up to the maximum until healthy", async () => {
  const upstream = upstreamHealthyAfter(5);
  const delays: number[] = [];

  const healthy = await waitUntilHealthy(upstream, { initialMs: 5, maxMs: 20 }, new AbortController().signal, (_attempt, delayMs) => delays.push(delayMs));

  assert.equal(healthy, true);
  assert.equal(upstream.calls(), 6);
  assert.deepEqual(delays, [5, 10, 20, 20, 20]);
});

test("waitUntilHealthy() stops when aborted", async () => {
  const upstream = upstreamHealthyAfter(Infinity);
  const stopping = new AbortController();

  const waiting = waitUntilHealthy(upstream, { initialMs: 60_000, maxMs: 60_000 }, stopping.signal);
  await new Promise((resolve) => setTimeout(resolve, 20));
  stopping.abort();

  assert.equal(await waiting, false);
  assert.equal(upstream.calls(), 1);
});
