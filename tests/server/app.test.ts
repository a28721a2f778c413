import assert from "node:assert/strict";
import { test } from "node:test";
import { CredentialBroker } from "../../src/credentials/broker.ts";
import { CredentialsError } from "../../src/credentials/errors.ts";
import type { ServedCredentials } from "../../src/credentials/types.ts";
import { createApp } from "../../src/server/app.ts";
import { ServiceRegistry } from "../../src/services/registry.ts";
import { FakeClock } from "../support/fake-clock.ts";

const WEB_TOKEN = "web-token-0123456789abcdef";
const API_TOKEN = "api-token-0123456789abcdef";

const CREDENTIALS: ServedCredentials = {
  accessKeyId: "ASIAEXAMPLEEXAMPLE01",
  secretAccessKey: "secret-access-key-example-000000000000000",
  sessionToken: "session-token-example",
  expiration: new Date("2026-01-01T13:00:00Z"),
  roleArn: "arn:aws:iam::123456789012:role/web",
  accountId: "123456789012",
};

function setup(fetchApi: () => Promise<ServedCredentials> = () => Promise.reject(new CredentialsError("AccessDenied", "denied"))) {
  const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
  const registry = new ServiceRegistry();
  const broker = (service: string, fetch: () => Promise<ServedCredentials>) =>
    new CredentialBroker({ service, fetch, refreshBufferSeconds: 1200, retryDelaySeconds: 30, clock });
  registry.set({ name: "web", origin: "config", broker: broker("web", () => Promise.resolve(CREDENTIALS)) }, WEB_TOKEN);
  registry.set({ name: "api", origin: "config", broker: broker("api", fetchApi) }, API_TOKEN);
  return { app: createApp({ registry }), registry, clock };
}

test("GET /v1/credentials returns the exact SDK body", async () => {
  const { app } = setup();
  const response = await app.request("/v1/credentials", { headers: { Authorization: WEB_TOKEN } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(await response.json(), {
    AccessKeyId: "ASIAEXAMPLEEXAMPLE01",
    SecretAccessKey: "secret-access-key-example-000000000000000",
    Token: "session-token-example",
    Expiration: "2026-01-01T13:00:00Z",
    RoleArn: "arn:aws:iam::123456789012:role/web",
    AccountId: "123456789012",
  });
});

test("GET /v1/credentials without a header explains the token variable", async () => {
  const { app } = setup();
  const response = await app.request("/v1/credentials");
  assert.equal(response.status, 401);
  const body = await response.json();
  assert.equal(body.Code, "MissingAuthorization");
  assert.equal(body.code, "MissingAuthorization");
  assert.match(body.Message, /AWS_CONTAINER_AUTHORIZATION_TOKEN/);
  assert.equal(body.message, body.Message);
});

test("GET /v1/credentials with an unknown token reveals nothing", async () => {
  const { app } = setup();
  const near = await app.request("/v1/credentials", { headers: { Authorization: WEB_TOKEN.slice(0, -1) + "X" } });
  const far = await app.request("/v1/credentials", { headers: { Authorization: "completely-different-token" } });
  assert.equal(near.status, 401);
  assert.equal(far.status, 401);
  assert.deepEqual(await near.json(), await far.json());
});

test("GET /v1/credentials never falls back to a service", async () => {
  const { app } = setup();
  for (const header of ["", " ", "Bearer", "Bearer ", "web"]) {
    const response = await app.request("/v1/credentials", { headers: { Authorization: header } });
    assert.equal(response.status, 401, `header ${JSON.stringify(header)}`);
  }
});

test("GET /v1/credentials accepts a Bearer scheme", async () => {
  const { app } = setup();
  const response = await app.request("/v1/credentials", { headers: { Authorization: `Bearer ${WEB_TOKEN}` } });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).AccessKeyId, CREDENTIALS.accessKeyId);
});

test("GET /v1/credentials selects the service by token", async () => {
  const { app } = setup(() => Promise.resolve({ ...CREDENTIALS, accessKeyId: "ASIAAPIAPIAPIAPIAPI0" }));
  const web = await (await app.request("/v1/credentials", { headers: { Authorization: WEB_TOKEN } })).json();
  const api = await (await app.request("/v1/credentials", { headers: { Authorization: API_TOKEN } })).json();
  assert.equal(web.AccessKeyId, "ASIAEXAMPLEEXAMPLE01");
  assert.equal(api.AccessKeyId, "ASIAAPIAPIAPIAPIAPI0");
});

test("GET /v1/credentials maps AccessDenied to 403", async () => {
  const { app } = setup();
  const response = await app.request("/v1/credentials", { headers: { Authorization: API_TOKEN } });
  assert.equal(response.status, 403);
  const body = await response.json();
  assert.equal(body.Code, "AccessDenied");
  assert.match(body.Message, /service "api"/);
  assert.ok(!JSON.stringify(body).includes("denied\""));
});

test("GET /v1/credentials maps an STS outage to 503", async () => {
  const { app } = setup(() => Promise.reject(new CredentialsError("ServiceUnavailable", "down")));
  const response = await app.request("/v1/credentials", { headers: { Authorization: API_TOKEN } });
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
  assert.equal((await response.json()).code, "ServiceUnavailable");
});

test("GET /health reports the service count", async () => {
  const { app } = setup();
  const response = await app.request("/health");
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: "ok", services: 2 });
  const head = await app.request("/health", { method: "HEAD" });
  assert.equal(head.status, 200);
});

test("unknown paths get a JSON 404", async () => {
  const { app } = setup();
  const response = await app.request("/latest/meta-data/iam/security-credentials/");
  assert.equal(response.status, 404);
  assert.equal((await response.json()).Code, "NotFound");
});

test("other methods get 405 with Allow", async () => {
  const { app } = setup();
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    const response = await app.request("/v1/credentials", { method, headers: { Authorization: WEB_TOKEN } });
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
  }
});

test("every response carries no-store and no CORS", async () => {
  const { app } = setup();
  for (const path of ["/v1/credentials", "/health", "/nope"]) {
    const response = await app.request(path, { headers: { Authorization: WEB_TOKEN, Origin: "https://evil.example" } });
    assert.equal(response.headers.get("cache-control"), "no-store", path);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(response.headers.get("access-control-allow-origin"), null, path);
  }
});

test("a removed service's token stops working", async () => {
  const { app, registry } = setup();
  registry.delete("web");
  const response = await app.request("/v1/credentials", { headers: { Authorization: WEB_TOKEN } });
  assert.equal(response.status, 401);
});
