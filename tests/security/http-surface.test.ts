import assert from "node:assert/strict";
import { test } from "node:test";
import { CredentialBroker } from "../../src/credentials/broker.ts";
import type { ServedCredentials } from "../../src/credentials/types.ts";
import { createApp } from "../../src/server/app.ts";
import { FailedAuthLimiter } from "../../src/server/rate-limit.ts";
import { ServiceRegistry } from "../../src/services/registry.ts";
import { FakeClock } from "../support/fake-clock.ts";

const TOKEN = "surface-token-0123456789abcdef";
const OTHER_TOKEN = "surface-other-0123456789abcdef";
const SECURITY_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cross-origin-resource-policy": "same-origin",
};

function setup(limiterClock?: FakeClock) {
  const clock = new FakeClock();
  const credentials = (): Promise<ServedCredentials> =>
    Promise.resolve({
      accessKeyId: "ASIASURFACEEXAMPLE01",
      secretAccessKey: "surface-secret-access-key-00000000000000",
      sessionToken: "surface-session-token",
      expiration: new Date(clock.now() + 3_600_000),
    });
  const registry = new ServiceRegistry();
  for (const [name, token] of [["web", TOKEN], ["api", OTHER_TOKEN]]) {
    registry.set({ name, origin: "config", broker: new CredentialBroker({ service: name, fetch: credentials, refreshBufferSeconds: 60, retryDelaySeconds: 1, clock }) }, token);
  }
  const authLimiter = new FailedAuthLimiter({ burst: 5, refillPerSecond: 1, now: limiterClock ? () => limiterClock.now() : undefined });
  return { app: createApp({ registry, authLimiter, clock }), registry };
}

function request(app: ReturnType<typeof createApp>, path: string, init: RequestInit = {}, peer = "127.0.0.1") {
  return app.request(path, init, { remoteAddress: peer });
}

function securityHeadersOf(response: Response): Record<string, string | null> {
  return Object.fromEntries(Object.keys(SECURITY_HEADERS).map((name) => [name, response.headers.get(name)]));
}

test("every response carries the security headers and no CORS header", async () => {
  const { app } = setup();
  const cases: [string, RequestInit][] = [
    ["/v1/credentials", { headers: { Authorization: TOKEN } }],
    ["/v1/credentials", {}],
    ["/v1/credentials", { headers: { Authorization: "wrong-token-0123456789" } }],
    ["/health", {}],
    ["/nope", {}],
    ["/v1/credentials", { method: "OPTIONS", headers: { "Access-Control-Request-Method": "GET" } }],
    ["/v1/credentials", { method: "POST", body: "x" }],
    ["/v1/credentials", { headers: { Origin: "https://evil.example" } }],
  ];
  for (const [path, init] of cases) {
    const response = await request(app, path, init);
    const label = `${init.method ?? "GET"} ${path} → ${response.status}`;
    assert.deepEqual(securityHeadersOf(response), SECURITY_HEADERS, label);
    assert.deepEqual([...response.headers.keys()].filter((name) => name.startsWith("access-control-")), [], label);
    await response.body?.cancel();
  }
});

test("routes answer only GET and HEAD", async () => {
  const { app } = setup();
  for (const path of ["/v1/credentials", "/health"]) {
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      const response = await request(app, path, { method });
      assert.equal(response.status, 405, `${method} ${path}`);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
      assert.equal((await response.json()).Code, "MethodNotAllowed");
    }
    const head = await request(app, path, { method: "HEAD", headers: { Authorization: TOKEN } });
    assert.equal(head.status, 200, `HEAD ${path}`);
  }
});

test("a GET with a body is rejected", async () => {
  const { app } = setup();
  const response = await request(app, "/v1/credentials", { headers: { Authorization: TOKEN, "Content-Length": "5" } });
  assert.equal(response.status, 400);
  assert.equal((await response.json()).Code, "InvalidRequest");
});

test("a request with an Origin header is refused", async () => {
  const { app } = setup();
  const response = await request(app, "/v1/credentials", { headers: { Authorization: TOKEN, Origin: "http://rebound.example" } });
  assert.equal(response.status, 403);
  const body = await response.json();
  assert.equal(body.Code, "Forbidden");
  assert.equal(body.AccessKeyId, undefined);
});

test("oversized headers get 431", async () => {
  const { app } = setup();
  const response = await request(app, "/v1/credentials", { headers: { Authorization: TOKEN, "X-Padding": "p".repeat(9000) } });
  assert.equal(response.status, 431);
  assert.equal((await response.json()).Code, "RequestHeaderFieldsTooLarge");
});

test("failed authentications are limited per peer", async () => {
  const { app } = setup();
  for (let attempt = 0; attempt < 5; attempt++) {
    const response = await request(app, "/v1/credentials", { headers: { Authorization: `guess-${attempt}-0123456789abcdef` } }, "10.0.0.1");
    assert.equal(response.status, 401);
  }
  const limited = await request(app, "/v1/credentials", { headers: { Authorization: "guess-5-0123456789abcdef" } }, "10.0.0.1");
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "1");
  assert.equal((await limited.json()).Code, "TooManyRequests");

  const elsewhere = await request(app, "/v1/credentials", { headers: { Authorization: "guess-6-0123456789abcdef" } }, "10.0.0.2");
  assert.equal(elsewhere.status, 401);
});

test("a limited peer cannot test an unseen valid token", async () => {
  const { app } = setup();
  for (let attempt = 0; attempt < 5; attempt++) {
    await request(app, "/v1/credentials", { headers: { Authorization: `guess-${attempt}-0123456789abcdef` } });
  }
  const response = await request(app, "/v1/credentials", { headers: { Authorization: OTHER_TOKEN } });
  assert.equal(response.status, 429);
});

test("a token that worked from a peer passes its limit", async () => {
  const { app } = setup();
  assert.equal((await request(app, "/v1/credentials", { headers: { Authorization: TOKEN } })).status, 200);
  for (let attempt = 0; attempt < 8; attempt++) {
    await request(app, "/v1/credentials", { headers: { Authorization: `stale-${attempt}-0123456789abcdef` } });
  }
  assert.equal((await request(app, "/v1/credentials", { headers: { Authorization: TOKEN } })).status, 200);
});

test("a limited peer is served again once it slows down", async () => {
  const clock = new FakeClock();
  const { app } = setup(clock);
  for (let attempt = 0; attempt < 6; attempt++) {
    await request(app, "/v1/credentials", { headers: { Authorization: `guess-${attempt}-0123456789abcdef` } });
  }
  assert.equal((await request(app, "/v1/credentials", { headers: { Authorization: OTHER_TOKEN } })).status, 429);
  clock.jump(2000);
  assert.equal((await request(app, "/v1/credentials", { headers: { Authorization: OTHER_TOKEN } })).status, 200);
});

test("FailedAuthLimiter forgets the oldest peers beyond its bound", () => {
  const limiter = new FailedAuthLimiter({ burst: 1, maxEntries: 100 });
  for (let peer = 0; peer < 1000; peer++) limiter.recordFailure(`10.0.${peer >> 8}.${peer & 255}`);
  assert.equal(limiter.trackedPeers, 100);
  assert.equal(limiter.retryAfter("10.0.0.0"), undefined);
  assert.equal(limiter.retryAfter("10.0.3.231"), 1);
});
