/**
 * parseWrkReport() on reports as wrk 4.1 prints them.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseWrkReport } from "../../scripts/bench-support/wrk.ts";

const REPORT = `Running 5s test @ http://127.0.0.1:40745/v1/credentials
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   132.09ms  469.09ms   3.36s    93.24%
    Req/Sec     4.48k     1.05k    5.95k    78.00%
  Latency Distribution
     50%  812.00us
     75%   11.90ms
     90%  116.33ms
     99%    2.75s 
  22333 requests in 5.01s, 16.21MB read
  Socket errors: connect 0, read 22333, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   4457.67
Transfer/sec:      3.24MB
`;

test("parseWrkReport() reads rate and latency units", () => {
  assert.deepEqual(parseWrkReport(REPORT, { countReadErrors: true }), {
    requests: 22333,
    requestsPerSecond: 4457.67,
    p50Ms: 0.812,
    p99Ms: 2750,
    errors: 4 + 22333 + 1 + 2,
  });
});

test("parseWrkReport() leaves out read errors on request", () => {
  assert.equal(parseWrkReport(REPORT, { countReadErrors: false }).errors, 4 + 1 + 2);
});

test("parseWrkReport() rejects a report without percentiles", () => {
  assert.throws(() => parseWrkReport("Requests/sec: 1\n  1 requests in 1.00s, 1KB read\n", { countReadErrors: true }), /median latency/);
});
