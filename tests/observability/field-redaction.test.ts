/**
 * createSink()'s field redaction, with and without the fast path for records that have
 * nothing to redact by name.
 */

import type { LogRecord } from "@logtape/logtape";
import assert from "node:assert/strict";
import { test } from "node:test";
import { createSink } from "../../src/observability/logging.ts";

/** Sends one record through a JSON sink and returns the parsed line. */
function written(rawMessage: string, message: unknown[], properties: Record<string, unknown>): Record<string, unknown> {
  const lines: string[] = [];
  const sink = createSink({ format: "json", write: (line) => lines.push(line) });
  const record: LogRecord = { category: ["credproxy", "test"], level: "info", rawMessage, message, properties, timestamp: Date.parse("2026-01-02T03:04:05Z") };
  sink(record);
  assert.equal(lines.length, 1);
  return JSON.parse(lines[0]);
}

test("createSink() writes a record without secret fields unchanged", () => {
  const line = written("{method} {path} {status}", ["", "GET", " ", "/v1/credentials", " ", 200, ""], {
    method: "GET",
    path: "/v1/credentials",
    status: 200,
    service: "web",
    latencyMs: 0.05,
  });
  assert.deepEqual(line, {
    time: "2026-01-02T03:04:05.000Z",
    level: "info",
    logger: "credproxy.test",
    message: "GET /v1/credentials 200",
    method: "GET",
    path: "/v1/credentials",
    status: 200,
    service: "web",
    latencyMs: 0.05,
  });
});

test("createSink() redacts a top-level secret field", () => {
  const line = written("Request from {peer}", ["Request from ", "127.0.0.1", ""], { peer: "127.0.0.1", token: "web-token-0123456789abcdef" });
  assert.equal(line.token, "[REDACTED]");
  assert.equal(line.peer, "127.0.0.1");
});

test("createSink() redacts a secret field used in the message", () => {
  const line = written("Token {token} was refused", ["Token ", "web-token-0123456789abcdef", " was refused"], { token: "web-token-0123456789abcdef" });
  assert.equal(line.message, "Token [REDACTED] was refused");
  assert.equal(line.token, "[REDACTED]");
});

test("createSink() redacts a secret field inside a nested object", () => {
  const line = written("Loaded {service}", ["Loaded ", "web", ""], { service: "web", settings: { secret_access_key: "abcdefghijklmnop" } });
  assert.deepEqual(line.settings, { secret_access_key: "[REDACTED]" });
});

test("createSink() keeps redacting after many clean records", () => {
  for (let index = 0; index < 50; index++) written("{method} {status}", ["", "GET", " ", 200, ""], { method: "GET", status: 200 });
  const line = written("{method} {status}", ["", "GET", " ", 200, ""], { method: "GET", status: 200, authorization: "Bearer abcdefghijklmnop" });
  assert.equal(line.authorization, "[REDACTED]");
});
