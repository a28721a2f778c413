import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/config/load.ts";
import { createMetadataApp, type PeerInfo } from "../../src/metadata/app.ts";
import { createInProcessForwarder, type MetadataForwarder } from "../../src/metadata/forwarder.ts";
import type { ListenAddress } from "../../src/metadata/listen-address.ts";
import { buildService } from "../../src/services/build.ts";
import { ServiceRegistry } from "../../src/services/registry.ts";

const WEB_TOKEN = "web-token-0123456789abcdef";
const API_TOKEN = "api-token-0123456789abcdef";
const LISTEN: ListenAddress[] = [{ host: "169.254.170.2", port: 80 }, { host: "127.0.0.1", port: 80 }];
const LOCAL_PEER: PeerInfo = { remoteAddress: "127.0.0.1" };

type App = ReturnType<typeof createMetadataApp>;

/** Requests `url` the way a server hands it over: with the `Host` header of the URL unless given. */
function get(app: App, url: string, headers: Record<string, string> = {}, peer = LOCAL_PEER, method = "GET") {
  return app.request(url, { method, headers: { host: new URL(url).host, ...headers } }, peer);
}

/** Builds the app over two services of local credentials. web is also served on /creds/web. */
async function inProcessApp(options: { allowNonLoopbackPeers?: boolean } = {}) {
  const text = `services:
  web:
    auth_token: ${WEB_TOKEN}
    source_credentials: {local: {account_id: "111122223333"}}
    metadata_paths: [/creds/web]
  api:
    auth_token: ${API_TOKEN}
    source_credentials: {local: {}}
`;
  const { config } = parseConfigText(text, "test.yaml", { env: {} });
  const registry = new ServiceRegistry();
  for (const [name, service] of Object.entries(config.services)) {
    registry.set(buildService(name, service, { config, env: {} }), service.auth_token);
  }
  await Promise.all(registry.list().map((service) => service.broker.start()));
  const forwarder = createInProcessForwarder(registry);
  const app = createMetadataApp({ forwarder, listen: LISTEN, ...options });
  return { app, close: () => registry.clear() };
}

/** Creates a forwarder that records requests and returns 200 with a fixed body. */
function recordingForwarder(): MetadataForwarder & { requests: string[] } {
  const requests: string[] = [];
  return {
    mode: "upstream",
    credentialPaths: [],
    requests,
    credentials(request) {
      requests.push(request.path);
      return Promise.resolve({ status: 200, body: { AccessKeyId: "ASIAEXAMPLE" } });
    },
    health() {
      return Promise.resolve({ status: 200, body: { status: "ok" } });
    },
  };
}

test("metadata app serves credentials on /v1/credentials at every address", async () => {
  const { app, close } = await inProcessApp();
  try {
    for (const url of ["http://169.254.170.2/v1/credentials", "http://127.0.0.1/v1/credentials?id=1", "http://localhost/v1/credentials"]) {
      const response = await get(app, url, { authorization: WEB_TOKEN });
      const body = await response.json();

      assert.equal(response.status, 200, url);
      assert.deepEqual(Object.keys(body), ["AccessKeyId", "SecretAccessKey", "Token", "Expiration", "AccountId"]);
      assert.equal(body.AccountId, "111122223333");
      assert.equal(response.headers.get("cache-control"), "no-store");
    }
  } finally {
    close();
  }
});

test("metadata app rejects a missing or unknown token with 401", async () => {
  const { app, close } = await inProcessApp();
  try {
    const missing = await get(app, "http://169.254.170.2/v1/credentials");
    const unknown = await get(app, "http://169.254.170.2/v1/credentials", { authorization: "not-a-token-at-all" });

    assert.equal(missing.status, 401);
    assert.equal((await missing.json()).Code, "MissingAuthorization");
    assert.equal(unknown.status, 401);
    assert.deepEqual(await unknown.json(), {
      Code: "InvalidToken",
      Message: "The authorization token is not valid",
      code: "InvalidToken",
      message: "The authorization token is not valid",
    });
  } finally {
    close();
  }
});

test("metadata app serves a service path only to the services that list it", async () => {
  const { app, close } = await inProcessApp();
  try {
    const web = await get(app, "http://169.254.170.2/creds/web", { authorization: WEB_TOKEN });
    const api = await get(app, "http://169.254.170.2/creds/web", { authorization: API_TOKEN });
    const noToken = await get(app, "http://169.254.170.2/creds/web");

    assert.equal(web.status, 200);
    assert.equal((await web.json()).AccountId, "111122223333");
    assert.equal(api.status, 401);
    assert.equal((await api.json()).Code, "InvalidToken");
    assert.equal(noToken.status, 401);
  } finally {
    close();
  }
});

test("metadata app answers other paths with 404 and other methods with 405", async () => {
  const forwarder = recordingForwarder();
  const app = createMetadataApp({ forwarder, listen: LISTEN });

  const other = await get(app, "http://169.254.170.2/latest/meta-data/");
  const post = await get(app, "http://169.254.170.2/v1/credentials", {}, LOCAL_PEER, "POST");

  assert.equal(other.status, 404);
  assert.equal((await other.json()).Code, "NotFound");
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  assert.deepEqual(forwarder.requests, []);
});

test("metadata app rejects a Host that is not a served address", async () => {
  const forwarder = recordingForwarder();
  const app = createMetadataApp({ forwarder, listen: LISTEN });

  for (const host of ["attacker.example", "169.254.170.2:8080", "169.254.170.23", ""]) {
    const response = await get(app, "http://169.254.170.2/v1/credentials", { host });
    assert.equal(response.status, 403, `Host "${host}"`);
    assert.equal((await response.json()).Code, "InvalidHost");
  }
  assert.deepEqual(forwarder.requests, []);
});

test("metadata app accepts the served addresses as Host, with or without port 80", async () => {
  const app = createMetadataApp({ forwarder: recordingForwarder(), listen: [...LISTEN, { host: "fd00:ec2::23", port: 80 }] });

  for (const host of ["169.254.170.2", "169.254.170.2:80", "127.0.0.1", "LOCALHOST:80", "[fd00:ec2::23]"]) {
    const response = await get(app, "http://169.254.170.2/v1/credentials", { host });
    assert.equal(response.status, 200, `Host "${host}"`);
  }
});

test("metadata app rejects peers that are not on this host", async () => {
  const forwarder = recordingForwarder();
  const app = createMetadataApp({ forwarder, listen: LISTEN });

  for (const remoteAddress of ["10.0.0.7", "169.254.170.23", "fe80::1", "::ffff:10.0.0.7", ""]) {
    const response = await get(app, "http://169.254.170.2/v1/credentials", {}, { remoteAddress });
    assert.equal(response.status, 403, `peer "${remoteAddress}"`);
    assert.equal((await response.json()).Code, "PeerNotAllowed");
  }
  assert.deepEqual(forwarder.requests, []);
});

test("metadata app serves loopback peers and peers on a served address", async () => {
  const app = createMetadataApp({ forwarder: recordingForwarder(), listen: LISTEN });

  for (const remoteAddress of ["127.0.0.1", "127.8.0.1", "::1", "::ffff:127.0.0.1", "169.254.170.2", "::ffff:169.254.170.2"]) {
    const response = await get(app, "http://169.254.170.2/v1/credentials", {}, { remoteAddress });
    assert.equal(response.status, 200, `peer "${remoteAddress}"`);
  }
});

test("metadata app serves any peer when non-loopback peers are allowed", async () => {
  const app = createMetadataApp({ forwarder: recordingForwarder(), listen: LISTEN, allowNonLoopbackPeers: true });

  const response = await get(app, "http://169.254.170.2/v1/credentials", {}, { remoteAddress: "10.0.0.7" });

  assert.equal(response.status, 200);
});

test("metadata app /health reports the in-process mode", async () => {
  const { app, close } = await inProcessApp();
  try {
    const response = await get(app, "http://127.0.0.1/health");

    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "ok", mode: "in-process", services: 2 });
  } finally {
    close();
  }
});

test("in-process endpoint serves paths of services added later", async () => {
  const text = `services:\n  late:\n    auth_token: late-token-0123456789abcdef\n    source_credentials: {local: {}}\n    metadata_paths: [/creds/late]\n`;
  const { config } = parseConfigText(text, "late.yaml", { env: {} });
  const registry = new ServiceRegistry();
  const app = createMetadataApp({ forwarder: createInProcessForwarder(registry), listen: LISTEN });
  try {
    const before = await get(app, "http://169.254.170.2/creds/late", { authorization: "late-token-0123456789abcdef" });
    assert.equal(before.status, 404);

    const late = buildService("late", config.services.late, { config, env: {} }, "/etc/credproxy.d/late.yaml");
    await late.broker.start();
    registry.set(late, "late-token-0123456789abcdef");
    const after = await get(app, "http://169.254.170.2/creds/late", { authorization: "late-token-0123456789abcdef" });
    assert.equal(after.status, 200);
    assert.equal((await after.json()).AccountId, "000000000000");

    registry.delete("late");
    const removed = await get(app, "http://169.254.170.2/creds/late", { authorization: "late-token-0123456789abcdef" });
    assert.equal(removed.status, 404);
  } finally {
    registry.clear();
  }
});
