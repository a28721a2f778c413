/**
 * setSecurityHeaders() on its own, beside the route tests that check its result in responses.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { setSecurityHeaders } from "../../src/server/security.ts";

test("setSecurityHeaders() removes CORS headers a handler set", () => {
  const headers = new Headers({
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "Retry-After",
    "Content-Type": "application/json",
  });
  setSecurityHeaders(headers);
  assert.deepEqual([...headers.keys()].filter((name) => name.startsWith("access-control-")), []);
});

test("setSecurityHeaders() sets every protective header", () => {
  const headers = new Headers({ "Content-Type": "application/json" });
  setSecurityHeaders(headers);
  assert.deepEqual(Object.fromEntries(headers), {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "content-type": "application/json",
    "cross-origin-resource-policy": "same-origin",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
  });
});
