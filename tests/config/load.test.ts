import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../src/config/errors.ts";
import { loadConfigFile, parseConfigText } from "../../src/config/load.ts";

const TOKEN_A = "token-aaaaaaaaaaaaaaaa";
const TOKEN_B = "token-bbbbbbbbbbbbbbbb";
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

function problemsOf(text: string, env: Record<string, string> = {}, source = "test.yaml") {
  try {
    parseConfigText(text, source, { env });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected the config to be rejected");
}

test("parseConfigText() fills defaults", () => {
  const { config } = parseConfigText(`services:\n  web:\n    auth_token: ${TOKEN_A}\n    source_credentials: {local: {}}\n`, "a.yaml", { env: {} });
  assert.deepEqual(config.server, { host: "127.0.0.1", port: 1338, log_health_checks: false, header_timeout_seconds: 10, max_connections: 512, connection_guard: "auto" });
  assert.deepEqual(config.credentials, { refresh_buffer_seconds: 1200, retry_delay: 30, request_timeout: 10, token_overlap_seconds: 3600 });
  assert.deepEqual(config.services.web.source_credentials, { local: { account_id: "000000000000", duration_seconds: 3600 } });
});

test("parseConfigText() accepts the original CredProxy layout", () => {
  const text = `
server:
  host: 127.0.0.1
  port: 8080
  log_health_checks: true
credentials:
  refresh_buffer_seconds: 900
  retry_delay: 10
  request_timeout: 5
aws_defaults:
  region: eu-west-1
  iam_profile:
    profile_name: dev
    config_file: /home/dev/.aws/config
services:
  web:
    auth_token: "${TOKEN_A}"
    assumed_role:
      RoleArn: arn:aws:iam::123456789012:role/web
      RoleSessionName: web-session
      DurationSeconds: 3600
      ExternalId: ext-123
      Policy: '{"Version":"2012-10-17","Statement":[]}'
      PolicyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]
      Tags: [{Key: team, Value: web}]
      TransitiveTagKeys: [team]
      SourceIdentity: alice
  api:
    auth_token: "${TOKEN_B}"
    source_credentials:
      region: us-west-2
      iam_keys:
        aws_access_key_id: AKIAIOSFODNN7EXAMPLE
        aws_secret_access_key: ${SECRET}
dynamic_services:
  enabled: false
metrics:
  prometheus:
    enabled: false
`;
  const { config } = parseConfigText(text, "legacy.yaml", { env: {} });
  assert.equal(config.server.port, 8080);
  assert.equal(config.services.web.assumed_role?.ExternalId, "ext-123");
  assert.deepEqual(config.services.web.assumed_role?.Tags, [{ Key: "team", Value: "web" }]);
  assert.equal(config.services.api.source_credentials?.iam_keys?.aws_secret_access_key, SECRET);
});

test("parseConfigText() reads JSON by file extension", () => {
  const json = JSON.stringify({ services: { web: { auth_token: TOKEN_A, source_credentials: { local: {} } } } });
  const { config } = parseConfigText(json, "config.json", { env: {} });
  assert.equal(config.services.web.auth_token, TOKEN_A);
});

test("parseConfigText() ignores x- keys everywhere", () => {
  const text = `
x-defaults: &role
  RoleArn: arn:aws:iam::123456789012:role/shared
services:
  web:
    x-owner: team-web
    auth_token: ${TOKEN_A}
    assumed_role: *role
`;
  const { config } = parseConfigText(text, "x.yaml", { env: {} });
  assert.equal(config.services.web.assumed_role?.RoleArn, "arn:aws:iam::123456789012:role/shared");
  assert.equal("x-owner" in config.services.web, false);
});

test("parseConfigText() accepts every partition's role ARN", () => {
  for (const arn of [
    "arn:aws:iam::123456789012:role/a",
    "arn:aws-cn:iam::123456789012:role/a",
    "arn:aws-us-gov:iam::123456789012:role/path/to/a",
    "arn:aws-iso:iam::123456789012:role/a",
    "arn:aws-iso-b:iam::123456789012:role/a",
  ]) {
    const { config } = parseConfigText(`services:\n  web:\n    auth_token: ${TOKEN_A}\n    assumed_role: {RoleArn: "${arn}"}\n`, "p.yaml", { env: {} });
    assert.equal(config.services.web.assumed_role?.RoleArn, arn);
  }
});

test("parseConfigText() accepts regions of every partition", () => {
  for (const region of ["us-east-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1", "us-isob-east-1", "ap-southeast-5"]) {
    const { config } = parseConfigText(
      `services:\n  web:\n    auth_token: ${TOKEN_A}\n    source_credentials: {region: ${region}, local: {}}\n`,
      "r.yaml",
      { env: {} },
    );
    assert.equal(config.services.web.source_credentials?.region, region);
  }
});

test("parseConfigText() rejects malformed ARNs and regions with paths", () => {
  const error = problemsOf(`
services:
  web:
    auth_token: ${TOKEN_A}
    source_credentials: {region: useast1}
    assumed_role: {RoleArn: "arn:aws:iam::12345:role/x"}
`);
  assert.deepEqual(error.problems.map((problem) => problem.path), [
    "services.web.source_credentials.region",
    "services.web.assumed_role.RoleArn",
  ]);
});

test("parseConfigText() lists every problem at once", () => {
  const error = problemsOf(`
server:
  port: 70000
  colour: blue
services:
  web:
    auth_token: short
    assumed_role: {RoleArn: nope, DurationSeconds: 10}
`);
  const paths = error.problems.map((problem) => problem.path);
  assert.ok(paths.includes("server.port"));
  assert.ok(paths.includes("server.colour"));
  assert.ok(paths.includes("services.web.auth_token"));
  assert.ok(paths.includes("services.web.assumed_role.RoleArn"));
  assert.ok(paths.includes("services.web.assumed_role.DurationSeconds"));
  assert.match(error.message, /^Cannot load config "test\.yaml" \(\d+ problems\):/);
});

test("parseConfigText() rejects unknown keys", () => {
  const error = problemsOf(`services:\n  web:\n    auth_token: ${TOKEN_A}\n    assume_role: {}\n`);
  assert.equal(error.problems[0].path, "services.web.assume_role");
  assert.match(error.problems[0].message, /unknown key/);
});

test("parseConfigText() rejects two services with one token", () => {
  const error = problemsOf(`
services:
  web: {auth_token: ${TOKEN_A}, source_credentials: {local: {}}}
  api: {auth_token: ${TOKEN_A}, source_credentials: {local: {}}}
`);
  assert.equal(error.problems.length, 1);
  assert.equal(error.problems[0].path, "services.api.auth_token");
  assert.match(error.problems[0].message, /services\.web\.auth_token/);
  assert.ok(!error.message.includes(TOKEN_A));
});

test("parseConfigText() reports a repeated token with other problems", () => {
  const error = problemsOf(`
services:
  web: {auth_token: ${TOKEN_A}, source_credentials: {local: {}}, colour: blue}
  api: {auth_token: ${TOKEN_A}, source_credentials: {local: {}}}
`);
  assert.deepEqual(error.problems.map((problem) => problem.path), ["services.web.colour", "services.api.auth_token"]);
  assert.ok(!error.message.includes(TOKEN_A));
});

test("parseConfigText() requires an emulator endpoint for local sources with a role", () => {
  const error = problemsOf(`
services:
  web:
    auth_token: ${TOKEN_A}
    source_credentials: {local: {}}
    assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/a"}
`);
  assert.equal(error.problems[0].path, "services.web.assumed_role");
  assert.match(error.problems[0].message, /needs source_credentials.sts_endpoint/);
  const { config } = parseConfigText(
    `services:\n  web:\n    auth_token: ${TOKEN_A}\n    source_credentials: {local: {}, sts_endpoint: "http://localhost:4566"}\n    assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/a"}\n`,
    "l.yaml",
    { env: {} },
  );
  assert.equal(config.services.web.source_credentials?.sts_endpoint, "http://localhost:4566");
});

test("parseConfigText() never echoes a secret", () => {
  const badSecret = "not a valid token\nwith a newline and spaces";
  const error = problemsOf(`
services:
  web:
    auth_token: "${badSecret.replace("\n", "\\n")}"
    source_credentials:
      iam_keys: {aws_access_key_id: "bad id!", aws_secret_access_key: 12345678901234}
    assumed_role: {RoleArn: "${SECRET}", ExternalId: "x"}
`);
  assert.ok(!error.message.includes("not a valid token"));
  assert.ok(!error.message.includes(SECRET));
  assert.ok(!error.message.includes("12345678901234"));
  assert.ok(!error.message.includes("bad id!"));
  assert.ok(error.problems.some((problem) => problem.path === "services.web.assumed_role.ExternalId"));
});

test("parseConfigText() keeps secrets out of YAML syntax errors", () => {
  const error = problemsOf(`services:\n  web:\n    auth_token: "${SECRET}\n    other: [`);
  assert.ok(!error.message.includes(SECRET));
  assert.match(error.message, /invalid YAML at line \d+/);
});

test("parseConfigText() asks for quotes on an unquoted account id", () => {
  const error = problemsOf(`services:\n  web:\n    auth_token: ${TOKEN_A}\n    source_credentials: {local: {account_id: 012345670123}}\n`);
  assert.equal(error.problems[0].path, "services.web.source_credentials.local.account_id");
  assert.match(error.problems[0].message, /YAML read a number: put the value in quotes/);
  assert.ok(!error.message.includes("12345670123"));
});

test("parseConfigText() asks for quotes on a numeric token", () => {
  const error = problemsOf(`services:\n  web:\n    auth_token: 12345678901234567890\n    source_credentials: {local: {}}\n`);
  assert.match(error.problems[0].message, /YAML read a number/);
});

test("parseConfigText() keeps yes and on as strings or rejects them", () => {
  const { config } = parseConfigText(`services:\n  web:\n    auth_token: yes-this-is-a-token-on\n    source_credentials: {local: {}}\n`, "b.yaml", { env: {} });
  assert.equal(config.services.web.auth_token, "yes-this-is-a-token-on");
  const error = problemsOf(`server:\n  log_health_checks: yes\nservices: {}\n`);
  assert.equal(error.problems[0].path, "server.log_health_checks");
  assert.match(error.problems[0].message, /true or false/);
});

test("parseConfigText() treats a YAML 1.1 boolean in a string field as an error", () => {
  const error = problemsOf(`%YAML 1.1\n---\nservices:\n  web:\n    auth_token: on\n    source_credentials: {local: {}}\n`);
  assert.match(error.problems[0].message, /YAML read a boolean: put the value in quotes/);
});

test("parseConfigText() substitutes fromEnv into strings only", () => {
  const text = `services:\n  web:\n    auth_token: "tok-\${fromEnv:XID}-\${fromEnv:FLAG}-padding"\n    source_credentials: {local: {account_id: "\${fromEnv:ACCOUNT}"}}\n`;
  const { config } = parseConfigText(text, "e.yaml", { env: { XID: "00123", FLAG: "true", ACCOUNT: "012345670123" } });
  assert.equal(config.services.web.auth_token, "tok-00123-true-padding");
  assert.equal(config.services.web.source_credentials?.local?.account_id, "012345670123");
});

test("parseConfigText() keeps a hash in an environment value", () => {
  const text = `services:\n  web:\n    auth_token: \${fromEnv:TOKEN}\n    assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/a", Policy: "\${fromEnv:POLICY}"}\n`;
  const { config } = parseConfigText(text, "h.yaml", { env: { TOKEN: TOKEN_A, POLICY: "abc #x" } });
  assert.equal(config.services.web.assumed_role?.Policy, "abc #x");
});

test("parseConfigText() keeps 'abc #x' whole", () => {
  const text = `services:\n  web:\n    auth_token: \${fromEnv:TOKEN}\n    source_credentials: {local: {}}\n    x-note: "\${fromEnv:NOTE}"\n    assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/a", RoleSessionName: "\${fromEnv:NAME}"}\n`;
  const error = problemsOf(text, { TOKEN: "abc #x-0123456789abc", NAME: "abc #x", NOTE: "n" });
  // The space makes it invalid as a token and a session name, which proves it arrived whole.
  assert.deepEqual(error.problems.map((problem) => problem.path), ["services.web.auth_token", "services.web.assumed_role.RoleSessionName"]);
});

test("parseConfigText() resolves fromFile and drops one final newline", () => {
  const directory = mkdtempSync(join(tmpdir(), "credproxy-config-"));
  writeFileSync(join(directory, "token"), `${TOKEN_A}\n`);
  writeFileSync(join(directory, "flag"), "true");
  writeFileSync(join(directory, "policy"), '{\n  "Version": "2012-10-17"\n}\n');
  const text = `services:\n  web:\n    auth_token: \${fromFile:${directory}/token}\n    assumed_role:\n      RoleArn: arn:aws:iam::123456789012:role/a\n      ExternalId: "\${fromFile:${directory}/flag}"\n      Policy: "\${fromFile:${directory}/policy}"\n`;
  const { config } = parseConfigText(text, "f.yaml", { env: {} });
  assert.equal(config.services.web.auth_token, TOKEN_A);
  assert.equal(config.services.web.assumed_role?.ExternalId, "true");
  assert.equal(config.services.web.assumed_role?.Policy, '{\n  "Version": "2012-10-17"\n}\n');
});

test("parseConfigText() resolves nested references up to a limit", () => {
  const nested = parseConfigText(`services:\n  web:\n    auth_token: \${fromEnv:A}\n    source_credentials: {local: {}}\n`, "n.yaml", {
    env: { A: "${fromEnv:B}", B: TOKEN_A },
  });
  assert.equal(nested.config.services.web.auth_token, TOKEN_A);
  const error = problemsOf(`services:\n  web:\n    auth_token: \${fromEnv:LOOP}\n    source_credentials: {local: {}}\n`, { LOOP: "${fromEnv:LOOP}" });
  assert.match(error.problems[0].message, /nested more than 5 levels/);
});

test("parseConfigText() reports unset variables and missing files by path", () => {
  const error = problemsOf(
    `services:\n  web:\n    auth_token: \${fromEnv:NOT_SET_ANYWHERE}\n    assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/a", ExternalId: "\${fromFile:/nonexistent/ext}"}\n`,
  );
  assert.deepEqual(error.problems, [
    { path: "services.web.auth_token", message: "environment variable NOT_SET_ANYWHERE is not set" },
    { path: "services.web.assumed_role.ExternalId", message: 'cannot read file "/nonexistent/ext" named by ${fromFile:}: not found' },
  ]);
});

test("parseConfigText() applies environment overrides", () => {
  const { config } = parseConfigText(`services: {}\n`, "o.yaml", {
    env: { CREDPROXY_HOST: "::1", CREDPROXY_PORT: "9000", CREDPROXY_LOG_HEALTH_CHECKS: "yes" },
  });
  assert.deepEqual(config.server, { host: "::1", port: 9000, log_health_checks: true, header_timeout_seconds: 10, max_connections: 512, connection_guard: "auto" });
  const error = problemsOf(`services: {}\n`, { CREDPROXY_PORT: "http", CREDPROXY_LOG_HEALTH_CHECKS: "maybe" });
  assert.deepEqual(error.problems.map((problem) => problem.path), ["CREDPROXY_PORT", "CREDPROXY_LOG_HEALTH_CHECKS"]);
});

test("parseConfigText() requires one source kind", () => {
  const error = problemsOf(`
services:
  web:
    auth_token: ${TOKEN_A}
    source_credentials:
      local: {}
      iam_profile: {profile_name: dev}
`);
  assert.equal(error.problems[0].path, "services.web.source_credentials");
  assert.match(error.problems[0].message, /iam_profile and local/);
});

test("parseConfigText() rejects temporary keys without a role", () => {
  const error = problemsOf(`
services:
  web:
    auth_token: ${TOKEN_A}
    source_credentials:
      iam_keys: {aws_access_key_id: ASIAIOSFODNN7EXAMPLE, aws_secret_access_key: ${SECRET}, session_token: FwoGZXIvYXdzEBYaDH}
`);
  assert.equal(error.problems[0].path, "services.web.source_credentials.iam_keys.session_token");
  assert.ok(!error.message.includes("FwoGZXIvYXdzEBYaDH"));
});

test("parseConfigText() rejects durations shorter than the buffer", () => {
  const error = problemsOf(`
credentials: {refresh_buffer_seconds: 1200}
services:
  web:
    auth_token: ${TOKEN_A}
    assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/a", DurationSeconds: 900}
`);
  assert.equal(error.problems[0].path, "services.web.assumed_role.DurationSeconds");
});

test("parseConfigText() refuses MFA that needs a prompt", () => {
  const error = problemsOf(`
services:
  web:
    auth_token: ${TOKEN_A}
    assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/a", SerialNumber: "arn:aws:iam::123456789012:mfa/alice"}
`);
  assert.equal(error.problems[0].path, "services.web.assumed_role.SerialNumber");
  assert.match(error.problems[0].message, /cannot prompt/);
  const loaded = parseConfigText(
    `services:\n  web:\n    auth_token: ${TOKEN_A}\n    assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/a", SerialNumber: "arn:aws:iam::123456789012:mfa/alice", TokenCode: "123456"}\n`,
    "m.yaml",
    { env: {} },
  );
  assert.equal(loaded.warnings.length, 1);
  assert.match(loaded.warnings[0], /fixed MFA code/);
  assert.ok(!loaded.warnings[0].includes("123456"));
});

test("parseConfigText() rejects tokens with invisible characters", () => {
  for (const token of ["has space in it 12345", "tab\there-0123456789", "émoji-token-0123456789"]) {
    const error = problemsOf(`services:\n  web:\n    auth_token: ${JSON.stringify(token)}\n    source_credentials: {local: {}}\n`);
    assert.equal(error.problems[0].path, "services.web.auth_token");
    assert.match(error.problems[0].message, /visible ASCII/);
  }
});

test("parseConfigText() rejects empty and non-mapping documents", () => {
  assert.match(problemsOf("").message, /empty/);
  assert.match(problemsOf("- a\n- b\n").message, /top level must be a mapping/);
  assert.match(problemsOf("{not json", {}, "c.json").message, /invalid JSON/);
});

test("parseConfigText() rejects duplicate YAML keys", () => {
  const error = problemsOf(`services:\n  web:\n    auth_token: ${TOKEN_A}\n    auth_token: ${TOKEN_B}\n`);
  assert.match(error.problems[0].message, /a key appears twice/);
  assert.ok(!error.message.includes(TOKEN_B));
});

test("loadConfigFile() names a missing file", () => {
  assert.throws(() => loadConfigFile("/nonexistent/credproxy.yaml", { env: {} }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.message, 'Cannot load config "/nonexistent/credproxy.yaml" (1 problem):\n  file not found');
    return true;
  });
});

test("loadConfigFile() loads the quick-start example", () => {
  const { config } = loadConfigFile("examples/quickstart/credproxy.yaml", { env: {} });
  assert.deepEqual(Object.keys(config.services), ["web", "worker"]);
});
