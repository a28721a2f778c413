import assert from "node:assert/strict";
import { test } from "node:test";
import { stringify } from "yaml";
import { validateDocument } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { parseServiceFile } from "../../src/services/dynamic/service-file.ts";

const config = validateDocument(
  { credentials: { refresh_buffer_seconds: 1200 }, aws_defaults: { region: "eu-west-1" } },
  "main.yaml",
  { env: {} },
).config;
const TOKEN = "dynamic-token-0123456789";
const ROLE = "arn:aws:iam::123456789012:role/reports";

function problemsOf(run: () => unknown): { path: string; message: string }[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `Expected a ConfigError, got ${error}`);
    return [...error.problems];
  }
  assert.fail("Expected the file to be rejected");
}

test("parseServiceFile() reads services under a services key", () => {
  const text = stringify({ services: { reports: { auth_token: TOKEN, assumed_role: { RoleArn: ROLE } } } });
  const file = parseServiceFile(text, "/d/reports.yaml", config);
  assert.deepEqual(file, {
    services: { reports: { auth_token: TOKEN, assumed_role: { RoleArn: ROLE, DurationSeconds: 3600 } } },
    warnings: [],
  });
});

test("parseServiceFile() reads a bare mapping of service names", () => {
  const text = JSON.stringify({ reports: { auth_token: TOKEN, assumed_role: { RoleArn: ROLE } } });
  const file = parseServiceFile(text, "/d/reports.json", config);
  assert.deepEqual(Object.keys(file.services), ["reports"]);
});

test("parseServiceFile() reads an empty file as no services", () => {
  assert.deepEqual(parseServiceFile("", "/d/a.yaml", config), { services: {}, warnings: [] });
  assert.deepEqual(parseServiceFile("# nothing yet\n", "/d/a.yaml", config), { services: {}, warnings: [] });
  assert.deepEqual(parseServiceFile("services: {}\n", "/d/a.yaml", config), { services: {}, warnings: [] });
});

test("parseServiceFile() resolves fromEnv references", () => {
  const text = stringify({ services: { reports: { auth_token: "${fromEnv:REPORTS_TOKEN}", assumed_role: { RoleArn: ROLE } } } });
  const file = parseServiceFile(text, "/d/a.yaml", config, { env: { REPORTS_TOKEN: TOKEN } });
  assert.equal(file.services.reports.auth_token, TOKEN);
});

test("parseServiceFile() reports schema problems by path without values", () => {
  const secret = "tiny-secret";
  const text = stringify({ services: { reports: { auth_token: secret, assumed_role: { RoleArn: "arn:nope" } } } });
  const problems = problemsOf(() => parseServiceFile(text, "/d/a.yaml", config));
  assert.deepEqual(problems.map((problem) => problem.path).sort(), ["services.reports.assumed_role.RoleArn", "services.reports.auth_token"]);
  assert.equal(JSON.stringify(problems).includes(secret), false);
});

test("parseServiceFile() reports bare-mapping problems without a services prefix", () => {
  const text = stringify({ reports: { auth_token: TOKEN, assumed_role: { RoleArn: "arn:nope" } } });
  const problems = problemsOf(() => parseServiceFile(text, "/d/a.yaml", config));
  assert.deepEqual(problems.map((problem) => problem.path), ["reports.assumed_role.RoleArn"]);
});

test("parseServiceFile() rejects other sections beside services", () => {
  const text = stringify({ server: { port: 1 }, services: {} });
  const problems = problemsOf(() => parseServiceFile(text, "/d/a.yaml", config));
  assert.deepEqual(problems.map((problem) => problem.path), ["server"]);
});

test("parseServiceFile() rejects a token used twice in one file", () => {
  const text = stringify({ services: { one: { auth_token: TOKEN, assumed_role: { RoleArn: ROLE } }, two: { auth_token: TOKEN, assumed_role: { RoleArn: ROLE } } } });
  const problems = problemsOf(() => parseServiceFile(text, "/d/a.yaml", config));
  assert.deepEqual(problems, [{ path: "services.two.auth_token", message: "is the same token as services.one.auth_token; every service needs its own token" }]);
});

test("parseServiceFile() checks durations against the main refresh buffer", () => {
  const text = stringify({ services: { one: { auth_token: TOKEN, assumed_role: { RoleArn: ROLE, DurationSeconds: 1000 } } } });
  const problems = problemsOf(() => parseServiceFile(text, "/d/a.yaml", config));
  assert.deepEqual(problems.map((problem) => problem.path), ["services.one.assumed_role.DurationSeconds"]);
});

test("parseServiceFile() reports YAML errors by line without the text", () => {
  const problems = problemsOf(() => parseServiceFile(`services:\n  one:\n    auth_token: "${TOKEN}\n`, "/d/a.yaml", config));
  assert.equal(problems.length > 0, true);
  assert.match(problems[0].message, /^invalid YAML at line \d+, column \d+/);
  assert.equal(JSON.stringify(problems).includes(TOKEN), false);
});

test("parseServiceFile() rejects a list at the top level", () => {
  const problems = problemsOf(() => parseServiceFile("- one\n- two\n", "/d/a.yaml", config));
  assert.equal(problems[0].path, "");
});
