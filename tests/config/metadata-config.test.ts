import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "../../src/config/errors.ts";
import { parseConfigText } from "../../src/config/load.ts";

const SERVICE = "services:\n  web:\n    auth_token: token-aaaaaaaaaaaaaaaa\n    source_credentials: {local: {}}\n";

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, "test.yaml", { env: {} });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error.problems.map((problem) => `${problem.path}: ${problem.message}`);
  }
  assert.fail("expected the config to be rejected");
}

test("metadata section defaults to the ECS and loopback addresses, disabled", () => {
  const { config } = parseConfigText(SERVICE, "test.yaml", { env: {} });

  assert.deepEqual(config.metadata, {
    enabled: false,
    listen: [{ host: "169.254.170.2", port: 80 }, { host: "127.0.0.1", port: 80 }],
    add_addresses: true,
    allow_non_loopback_peers: false,
  });
});

test("metadata.listen accepts HOST:PORT text and host/port mappings", () => {
  const text = `${SERVICE}metadata:
  enabled: true
  listen: ["169.254.170.23:80", "[fd00:ec2::23]", {host: "127.0.0.1", port: 8080}, {host: "::1"}]
  add_addresses: false
  allow_non_loopback_peers: true
  ip_path: /sbin/ip
`;
  const { config } = parseConfigText(text, "test.yaml", { env: {} });

  assert.deepEqual(config.metadata, {
    enabled: true,
    listen: [
      { host: "169.254.170.23", port: 80 },
      { host: "fd00:ec2::23", port: 80 },
      { host: "127.0.0.1", port: 8080 },
      { host: "::1", port: 80 },
    ],
    add_addresses: false,
    allow_non_loopback_peers: true,
    ip_path: "/sbin/ip",
  });
});

test("metadata.listen rejects wildcards, names, bad ports and an empty list", () => {
  assert.deepEqual(problemsOf(`metadata:\n  listen: ["0.0.0.0:80", "metadata.local:80", {host: "127.0.0.1", port: 0}]\n`), [
    "metadata.listen.0: a wildcard address would serve credentials on every interface; name each address instead",
    "metadata.listen.1: the host must be an IPv4 or IPv6 literal",
    "metadata.listen.2: the port must be from 1 to 65535",
  ]);
  assert.deepEqual(problemsOf("metadata:\n  listen: []\n"), ["metadata.listen: must name at least one address"]);
});

test("metadata section rejects unknown keys", () => {
  assert.deepEqual(problemsOf("metadata:\n  port: 80\n"), [
    "metadata.port: unknown key; check its spelling, or prefix it with x- to keep it as a note",
  ]);
});

test("services.NAME.metadata_paths accepts paths and rejects queries and /health", () => {
  const { config } = parseConfigText(`${SERVICE}    metadata_paths: [/creds/web, /v2/credentials/web]\n`, "test.yaml", { env: {} });
  assert.deepEqual(config.services.web.metadata_paths, ["/creds/web", "/v2/credentials/web"]);

  assert.deepEqual(problemsOf(`${SERVICE}    metadata_paths: [creds, "/creds?x=1", /health]\n`), [
    "services.web.metadata_paths.0: must be a URL path that starts with / and has no query or fragment",
    "services.web.metadata_paths.1: must be a URL path that starts with / and has no query or fragment",
    "services.web.metadata_paths.2: must not be /health, which the endpoint serves for health checks",
  ]);
});
