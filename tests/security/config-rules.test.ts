import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../src/config/errors.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { deriveSessionName } from "../../src/credentials/service-credentials.ts";
import { tempDir } from "../support/credproxy-process.ts";

const TOKEN = "config-rules-token-0123456789";
const ROLE_ARN = "arn:aws:iam::123456789012:role/app";
const KEYS = { iam_keys: { aws_access_key_id: "AKIAEXAMPLEEXAMPLE01", aws_secret_access_key: "config-rules-secret-key-0000" } };

function load(document: unknown) {
  return parseConfigText(JSON.stringify(document), "rules.json", { env: {} });
}

function problems(document: unknown): { path: string; message: string }[] {
  try {
    load(document);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  assert.fail("Expected the config to be rejected");
}

function service(extra: Record<string, unknown>) {
  return { services: { web: { auth_token: TOKEN, ...extra } } };
}

test("auth_token rejects characters outside visible ASCII", () => {
  for (const token of ["with space 0123456789", "tab\t0123456789abcdef", "newline0123456789\n", "naïve-0123456789abcdef", "del\x7f0123456789abcdef"]) {
    const found = problems({ services: { web: { auth_token: token, source_credentials: { local: {} } } } });
    assert.deepEqual(found.map((problem) => problem.path), ["services.web.auth_token"], JSON.stringify(token));
    assert.ok(!found[0].message.includes(token));
  }
});

test("auth_token rejects tokens shorter than 16 characters", () => {
  const found = problems({ services: { web: { auth_token: "short-token-123", source_credentials: { local: {} } } } });
  assert.deepEqual(found, [{ path: "services.web.auth_token", message: "must be at least 16 characters long" }]);
});

test("RoleSessionName written by the user is checked, never rewritten", () => {
  for (const name of ["a", "has space", "slash/name", "x".repeat(65)]) {
    const found = problems(service({ source_credentials: KEYS, assumed_role: { RoleArn: ROLE_ARN, RoleSessionName: name } }));
    assert.deepEqual(found.map((problem) => problem.path), ["services.web.assumed_role.RoleSessionName"], name);
  }
  const { config } = load(service({ source_credentials: KEYS, assumed_role: { RoleArn: ROLE_ARN, RoleSessionName: "ci=build,42@team" } }));
  assert.equal(config.services.web.assumed_role?.RoleSessionName, "ci=build,42@team");
});

test("deriveSessionName() sanitises service names deterministically", () => {
  assert.equal(deriveSessionName("web"), "credproxy-web");
  assert.equal(deriveSessionName("a b/c:d"), "credproxy-a-b-c-d");
  assert.equal(deriveSessionName("x".repeat(80)), `credproxy-${"x".repeat(54)}`);
  assert.equal(deriveSessionName("a b/c:d"), deriveSessionName("a b/c:d"));
  for (const name of ["web", "a b/c:d", "ünïcode", "x".repeat(80)]) assert.match(deriveSessionName(name), /^[\w+=,.@-]{2,64}$/);
});

test("SerialNumber without TokenCode is rejected as a prompt", () => {
  const found = problems(service({
    source_credentials: KEYS,
    assumed_role: { RoleArn: ROLE_ARN, SerialNumber: "arn:aws:iam::123456789012:mfa/dev" },
  }));
  assert.equal(found.length, 1);
  assert.equal(found[0].path, "services.web.assumed_role.SerialNumber");
  assert.match(found[0].message, /cannot prompt/);
});

test("a static TokenCode is accepted with a warning", () => {
  const { warnings } = load(service({
    source_credentials: KEYS,
    assumed_role: { RoleArn: ROLE_ARN, SerialNumber: "arn:aws:iam::123456789012:mfa/dev", TokenCode: "123456" },
  }));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /TokenCode is a fixed MFA code/);
  assert.ok(!warnings[0].includes("123456"));
});

/** Writes an AWS config file with the given text and returns its path. */
function awsConfig(text: string): string {
  const path = join(tempDir(), "config");
  writeFileSync(path, text);
  return path;
}

test("a profile whose role needs an MFA prompt is rejected at load", () => {
  const configFile = awsConfig("[profile base]\nregion = us-east-1\n\n[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/me\n");
  const found = problems(service({ source_credentials: { iam_profile: { profile_name: "admin", config_file: configFile, credentials_file: "/nonexistent/credentials" } } }));
  assert.equal(found.length, 1);
  assert.equal(found[0].path, "services.web.source_credentials.iam_profile.profile_name");
  assert.match(found[0].message, /mfa_serial/);
  assert.match(found[0].message, /cannot answer a prompt/);
});

test("an MFA prompt further up the source_profile chain is rejected", () => {
  const configFile = awsConfig([
    "[profile base]",
    "region = us-east-1",
    "[profile admin]",
    "role_arn = arn:aws:iam::123456789012:role/admin",
    "source_profile = base",
    "mfa_serial = arn:aws:iam::123456789012:mfa/me",
    "[profile deploy]",
    "role_arn = arn:aws:iam::123456789012:role/deploy",
    "source_profile = admin",
  ].join("\n"));
  const found = problems({
    aws_defaults: { iam_profile: { profile_name: "deploy", config_file: configFile, credentials_file: "/nonexistent/credentials" } },
    services: { web: { auth_token: TOKEN } },
  });
  assert.deepEqual(found.map((problem) => problem.path), ["aws_defaults.iam_profile.profile_name"]);
  assert.match(found[0].message, /through profile "admin"/);
});

test("a profile without mfa_serial loads", () => {
  const configFile = awsConfig("[profile plain]\nregion = eu-west-1\n# mfa_serial = commented out\n");
  const { config } = load(service({ source_credentials: { iam_profile: { profile_name: "plain", config_file: configFile, credentials_file: "/nonexistent/credentials" } } }));
  assert.equal(config.services.web.source_credentials?.iam_profile?.profile_name, "plain");
});

test("role chaining from a role profile is warned at load", () => {
  const configFile = awsConfig("[profile base]\nregion = us-east-1\n[profile hop]\nrole_arn = arn:aws:iam::123456789012:role/hop\nsource_profile = base\n");
  const { warnings } = load(service({
    source_credentials: { iam_profile: { profile_name: "hop", config_file: configFile, credentials_file: "/nonexistent/credentials" } },
    assumed_role: { RoleArn: ROLE_ARN, DurationSeconds: 7200 },
  }));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /role chaining to one hour/);
});

test("role chaining from temporary keys is warned at load", () => {
  const { warnings } = load(service({
    source_credentials: { iam_keys: { aws_access_key_id: "ASIAEXAMPLEEXAMPLE01", aws_secret_access_key: "secret-key-value-0000", session_token: "session-token-value-0000" } },
    assumed_role: { RoleArn: ROLE_ARN, DurationSeconds: 7200 },
  }));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /services\.web\.assumed_role\.DurationSeconds is over 3600/);
});

test("credentials.token_overlap_seconds defaults to one hour", () => {
  assert.equal(load(service({ source_credentials: { local: {} } })).config.credentials.token_overlap_seconds, 3600);
  assert.deepEqual(problems({ ...service({ source_credentials: { local: {} } }), credentials: { token_overlap_seconds: -1 } }).map((p) => p.path), [
    "credentials.token_overlap_seconds",
  ]);
});

test("server.host defaults to loopback", () => {
  assert.equal(load(service({ source_credentials: { local: {} } })).config.server.host, "127.0.0.1");
});
