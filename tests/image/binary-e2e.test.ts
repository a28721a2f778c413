/**
 * The compiled binary as users run it: every command, the quick-start config, and a role
 * assumed through the fake STS. Code paths that only bundling can break (lazy imports,
 * dax, the build constants) get exercised here.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { HELP_TEXT } from "../../src/cli/parse.ts";
import { CredProxyProcess, type LaunchTarget, ROOT, runCli, writeConfig } from "../support/credproxy-process.ts";
import { FakeSts } from "../support/fake-sts.ts";
import { BINARY_PATH, skipWithoutBinary } from "./binary.ts";

const skip = skipWithoutBinary();
const binary: LaunchTarget = { name: "binary", argv: [BINARY_PATH] };

const QUICKSTART_PATH = join(ROOT, "examples", "quickstart", "credproxy.yaml");
const SOURCE_KEYS = { accessKeyId: "AKIAEXAMPLEBINARY001", secretAccessKey: "binary/source/secret/EXAMPLE/0123456789" };
const ROLE_ARN = "arn:aws:iam::111122223333:role/binary-app";
const TOKEN = "binary-e2e-token-7c1d2e3f4a5b";

function packageVersion(): string {
  return JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
}

function quickstart(): Record<string, any> {
  return parse(readFileSync(QUICKSTART_PATH, "utf8"));
}

test("binary --version prints the package version and commit", { skip }, async () => {
  const result = await runCli(["--version"], { target: binary });

  assert.equal(result.code, 0);
  const version = packageVersion().replaceAll(".", "\\.");
  assert.match(result.stdout, new RegExp(`^credproxy ${version} \\(commit [0-9a-f]{7,40}(-dirty)?\\)\\n$`));
});

test("binary --help prints the help text", { skip }, async () => {
  const result = await runCli(["--help"], { target: binary });

  assert.deepEqual(result, { code: 0, stdout: HELP_TEXT, stderr: "" });
});

test("binary schema prints the config's JSON Schema", { skip }, async () => {
  const result = await runCli(["schema"], { target: binary });

  assert.equal(result.code, 0);
  const schema = JSON.parse(result.stdout);
  assert.equal(schema.type, "object");
  assert.ok("services" in schema.properties);
});

test("binary validate exits 0 for the quick-start config", { skip }, async () => {
  const result = await runCli(["validate", "--config", QUICKSTART_PATH], { target: binary });

  assert.deepEqual(result, { code: 0, stdout: `Config "${QUICKSTART_PATH}" is valid: 2 services\n`, stderr: "" });
});

test("binary validate exits 2 naming the invalid field", { skip }, async () => {
  const path = writeConfig({ services: { web: { auth_token: TOKEN, assumed_role: { RoleArn: "arn:aws:iam::1:role/x" } } } });

  const result = await runCli(["validate", "--config", path], { target: binary });

  assert.equal(result.code, 2);
  assert.match(result.stderr, new RegExp(`Cannot load config "${path}"`));
  assert.match(result.stderr, /services\.web\.assumed_role\.RoleArn/);
  assert.doesNotMatch(result.stderr, new RegExp(TOKEN));
});

test("binary loopback add --dry-run loads the lazily imported loopback module", { skip }, async () => {
  const result = await runCli(["loopback", "add", "--dry-run", "--ip", "/usr/sbin/ip"], { target: binary });

  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /run: \/usr\/sbin\/ip addr add 169\.254\.170\.2\/32 dev lo\n$/i);
});

test("binary sidecar --help loads the lazily imported sidecar module", { skip }, async () => {
  const result = await runCli(["sidecar", "--help"], { target: binary });

  assert.equal(result.code, 0);
  assert.match(result.stdout, /^Usage: credproxy sidecar --upstream URL/);
});

test("binary serves the quick-start services", { skip }, async () => {
  const config = quickstart();
  const proxy = await CredProxyProcess.start({ config: { ...config, server: { ...config.server, port: 0 } }, target: binary });
  try {
    const { status, body } = await proxy.request("/v1/credentials", config.services.web.auth_token);

    assert.equal(status, 200);
    assert.equal(body.AccountId, "000000000000");
    assert.match(body.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  } finally {
    await proxy.stop();
  }
});

test("binary assumes a role through the fake STS", { skip }, async () => {
  const sts = await FakeSts.start();
  sts.addIdentity({ ...SOURCE_KEYS, arn: "arn:aws:iam::111122223333:user/credproxy" });
  const proxy = await CredProxyProcess.start({
    target: binary,
    config: {
      services: {
        app: {
          auth_token: TOKEN,
          source_credentials: {
            region: "us-east-1",
            sts_endpoint: sts.url,
            iam_keys: { aws_access_key_id: SOURCE_KEYS.accessKeyId, aws_secret_access_key: SOURCE_KEYS.secretAccessKey },
          },
          assumed_role: { RoleArn: ROLE_ARN, RoleSessionName: "binary-e2e" },
        },
      },
    },
  });
  try {
    const { status, body } = await proxy.request("/v1/credentials", TOKEN);

    assert.equal(status, 200);
    assert.equal(body.RoleArn, ROLE_ARN);
    const assumeRole = sts.calls.filter((call) => call.action === "AssumeRole");
    assert.equal(assumeRole.length, 1);
    assert.deepEqual(
      { signatureValid: assumeRole[0].signatureValid, accessKeyId: assumeRole[0].accessKeyId, roleArn: assumeRole[0].params.RoleArn },
      { signatureValid: true, accessKeyId: SOURCE_KEYS.accessKeyId, roleArn: ROLE_ARN },
    );
  } finally {
    await proxy.stop();
    await sts.stop();
  }
});

test("binary healthcheck exits 0 while serve runs", { skip }, async () => {
  const proxy = await CredProxyProcess.start({ config: { services: { web: { auth_token: TOKEN, source_credentials: { local: {} } } } }, target: binary });
  try {
    const result = await runCli(["healthcheck", "--url", `${proxy.url}/health`], { target: binary });

    assert.deepEqual(result, { code: 0, stdout: `Healthy: ${proxy.url}/health\n`, stderr: "" });
  } finally {
    await proxy.stop();
  }
});

test("binary healthcheck exits 1 when nothing listens", { skip }, async () => {
  const proxy = await CredProxyProcess.start({ config: { services: { web: { auth_token: TOKEN, source_credentials: { local: {} } } } }, target: binary });
  await proxy.stop();

  const result = await runCli(["healthcheck", "--url", `${proxy.url}/health`, "--timeout", "2"], { target: binary });

  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`^Unhealthy: cannot reach ${proxy.url}/health`));
});
