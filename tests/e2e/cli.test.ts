/**
 * The CLI as a user runs it: exit statuses, messages, and what reaches standard error.
 */

import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { CredProxyProcess, launchTargets, runCli, tempDir, writeConfig } from "../support/credproxy-process.ts";
import { FakeSts } from "../support/fake-sts.ts";
import { SOURCE_KEYS, startStack, WEB_ROLE_ARN, WEB_TOKEN } from "../support/stack.ts";

const SECRET_KEY = "bad/secret/EXAMPLE/never-printed-0123456789";

/** Invalid configs, the path each must name, and secrets the output must not contain. */
const BAD_CONFIGS: { name: string; config: unknown; path: string; secrets: string[] }[] = [
  {
    name: "malformed role ARN",
    config: { services: { web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: "arn:aws:iam::1:role/x" } } } },
    path: "services.web.assumed_role.RoleArn",
    secrets: [WEB_TOKEN],
  },
  {
    name: "duplicate token",
    config: {
      services: {
        web: { auth_token: WEB_TOKEN, source_credentials: { local: {} } },
        api: { auth_token: WEB_TOKEN, source_credentials: { local: {} } },
      },
    },
    path: "services.api.auth_token",
    secrets: [WEB_TOKEN],
  },
  {
    name: "unknown key",
    config: { services: { web: { auth_token: WEB_TOKEN, source_credentials: { local: {} }, role: "x" } } },
    path: "services.web.role",
    secrets: [WEB_TOKEN],
  },
  {
    name: "bad region",
    config: { services: { web: { auth_token: WEB_TOKEN, source_credentials: { region: "moon-1", local: {} } } } },
    path: "services.web.source_credentials.region",
    secrets: [WEB_TOKEN],
  },
  {
    name: "secret in the wrong field",
    config: {
      services: {
        web: {
          auth_token: WEB_TOKEN,
          source_credentials: { iam_keys: { aws_access_key_id: SECRET_KEY, aws_secret_access_key: SECRET_KEY } },
        },
      },
    },
    path: "services.web.source_credentials.iam_keys.aws_access_key_id",
    secrets: [WEB_TOKEN, SECRET_KEY],
  },
  {
    name: "short token",
    config: { services: { web: { auth_token: "short-tok", source_credentials: { local: {} } } } },
    path: "services.web.auth_token",
    secrets: ["short-tok"],
  },
];

for (const target of launchTargets()) {
  test(`validate exits 0 on a good config (${target.name})`, async () => {
    const result = await runCli(["validate", "--config", "examples/quickstart/credproxy.yaml"], { target });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /is valid: 2 services/);
  });

  for (const bad of BAD_CONFIGS) {
    test(`validate and serve exit 2 on ${bad.name} (${target.name})`, async () => {
      const path = writeConfig(bad.config);
      for (const command of [["validate"], ["serve"], ["--validate-only"]]) {
        const result = await runCli([...command, "--config", path], { target, env: { CREDPROXY_LOG_LEVEL: "debug" } });
        assert.equal(result.code, 2, `${command[0]}: ${result.stderr}`);
        assert.ok(result.stderr.includes(`Cannot load config "${path}"`), result.stderr);
        assert.ok(result.stderr.includes(bad.path), result.stderr);
        for (const secret of bad.secrets) {
          assert.ok(!result.stderr.includes(secret) && !result.stdout.includes(secret), `${command[0]} printed a secret`);
        }
      }
    });
  }

  test(`serve exits 2 on a missing config file (${target.name})`, async () => {
    const result = await runCli(["serve", "--config", "/nonexistent/credproxy.yaml"], { target });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Cannot load config "\/nonexistent\/credproxy.yaml" \(1 problem\):\n {2}file not found/);
  });

  test(`serve exits 2 without any config (${target.name})`, async () => {
    const result = await runCli(["serve"], { target });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /No config file: pass --config FILE or set CREDPROXY_CONFIG_FILE/);
  });

  test(`bad usage exits 2 (${target.name})`, async () => {
    const result = await runCli(["--frobnicate"], { target });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Unknown option '--frobnicate'/);
  });

  test(`serve exits 1 when the port is taken (${target.name})`, async () => {
    const first = await CredProxyProcess.start({ config: "examples/quickstart/credproxy.yaml", target, args: ["--port", "0"] });
    try {
      const port = new URL(first.url).port;
      const result = await runCli(["serve", "--config", "examples/quickstart/credproxy.yaml", "--port", port], { target });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`));
    } finally {
      await first.stop();
    }
  });

  test(`healthcheck exits 0 when healthy and 1 when not (${target.name})`, async () => {
    const proxy = await CredProxyProcess.start({ config: "examples/quickstart/credproxy.yaml", target, args: ["--port", "0"] });
    const url = `${proxy.url}/health`;
    try {
      const healthy = await runCli(["healthcheck", "--url", url], { target });
      assert.equal(healthy.code, 0, healthy.stderr);
      assert.match(healthy.stdout, /^Healthy/);
    } finally {
      await proxy.stop();
    }
    const unhealthy = await runCli(["healthcheck", "--url", url, "--timeout", "1"], { target });
    assert.equal(unhealthy.code, 1);
    assert.match(unhealthy.stderr, /^Unhealthy: cannot reach/);
  });

  test(`schema prints the JSON Schema (${target.name})`, async () => {
    const result = await runCli(["schema"], { target });
    assert.equal(result.code, 0);
    const schema = JSON.parse(result.stdout);
    assert.equal(schema.type, "object");
    assert.deepEqual(Object.keys(schema.properties).slice(0, 5), ["server", "credentials", "aws_defaults", "services", "dynamic_services"]);
    assert.equal(schema.properties.services.additionalProperties.properties.assumed_role.properties.RoleArn.type, "string");
  });

  test(`version and help print and exit 0 (${target.name})`, async () => {
    const version = await runCli(["--version"], { target });
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^credproxy \d+\.\d+\.\d+\S* \(commit \S+\)\n$/);
    const help = await runCli(["--help"], { target });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage:/);
  });

  test(`SIGTERM finishes a request in flight and exits 0 (${target.name})`, async () => {
    const sts = await FakeSts.start();
    sts.addIdentity(SOURCE_KEYS);
    // The first fetch fails, so the request below has to wait for a slow second one.
    sts.fail({ status: 503, times: 1 });
    const proxy = await CredProxyProcess.start({
      target,
      config: {
        credentials: { retry_delay: 1 },
        aws_defaults: { sts_endpoint: sts.url, iam_keys: { aws_access_key_id: SOURCE_KEYS.accessKeyId, aws_secret_access_key: SOURCE_KEYS.secretAccessKey } },
        services: { web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: WEB_ROLE_ARN } } },
      },
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1200));
      sts.stall(1500, { times: 1 });
      const pending = proxy.request("/v1/credentials", WEB_TOKEN);
      await new Promise((resolve) => setTimeout(resolve, 300));
      process.kill(proxy.child.pid!, "SIGTERM");
      const response = await pending;
      assert.equal(response.status, 200);
      // A second SIGTERM would force an immediate exit, so wait instead of calling stop().
      assert.equal(await proxy.exited(), 0);
      assert.match(proxy.logs, /Received SIGTERM/);
    } finally {
      await proxy.stop();
      await sts.stop();
    }
  });

  test(`first request after a slow start-up is a cache hit (${target.name})`, async () => {
    const stack = await (async () => {
      const sts = await FakeSts.start();
      sts.addIdentity(SOURCE_KEYS);
      sts.stall(3000, { times: 1 });
      const proxy = await CredProxyProcess.start({
        target,
        config: {
          aws_defaults: { sts_endpoint: sts.url, iam_keys: { aws_access_key_id: SOURCE_KEYS.accessKeyId, aws_secret_access_key: SOURCE_KEYS.secretAccessKey } },
          services: { web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: WEB_ROLE_ARN } } },
        },
      });
      return { sts, proxy };
    })();
    try {
      const started = performance.now();
      const response = await stack.proxy.request("/v1/credentials", WEB_TOKEN);
      const elapsed = performance.now() - started;
      assert.equal(response.status, 200);
      assert.equal(stack.sts.count("AssumeRole"), 1);
      const requestLog = stack.proxy.logRecords().find((record) => record.logger === "credproxy.http" && record.path === "/v1/credentials");
      assert.equal(requestLog?.cache, "hit");
      // Far below the 3 s the STS stall would cost if the request had to wait for it.
      assert.ok(elapsed < 1000, `the first request took ${Math.round(elapsed)} ms`);
    } finally {
      await stack.proxy.stop();
      await stack.sts.stop();
    }
  });

  test(`profile source credentials, including credential_process (${target.name})`, async () => {
    const sts = await FakeSts.start();
    sts.addIdentity(SOURCE_KEYS);
    const directory = tempDir();
    const processScript = join(directory, "credential-process.sh");
    writeFileSync(
      processScript,
      `#!/bin/sh\necho '{"Version": 1, "AccessKeyId": "${SOURCE_KEYS.accessKeyId}", "SecretAccessKey": "${SOURCE_KEYS.secretAccessKey}"}'\n`,
    );
    chmodSync(processScript, 0o755);
    writeFileSync(join(directory, "config"), `[profile from-process]\ncredential_process = ${processScript}\nregion = us-east-1\n`);
    writeFileSync(
      join(directory, "credentials"),
      `[static]\naws_access_key_id = ${SOURCE_KEYS.accessKeyId}\naws_secret_access_key = ${SOURCE_KEYS.secretAccessKey}\n`,
    );
    const profile = (name: string) => ({
      profile_name: name,
      config_file: join(directory, "config"),
      credentials_file: join(directory, "credentials"),
    });
    const proxy = await CredProxyProcess.start({
      target,
      config: {
        aws_defaults: { sts_endpoint: sts.url },
        services: {
          web: { auth_token: WEB_TOKEN, source_credentials: { iam_profile: profile("static") }, assumed_role: { RoleArn: WEB_ROLE_ARN } },
          proc: { auth_token: "proc-token-0123456789abcdef", source_credentials: { iam_profile: profile("from-process") }, assumed_role: { RoleArn: WEB_ROLE_ARN } },
        },
      },
      secrets: [SOURCE_KEYS.secretAccessKey],
    });
    try {
      const web = await proxy.request("/v1/credentials", WEB_TOKEN);
      const proc = await proxy.request("/v1/credentials", "proc-token-0123456789abcdef");
      assert.equal(web.status, 200, JSON.stringify(web.body));
      assert.equal(proc.status, 200, JSON.stringify(proc.body));
      const assumeCalls = sts.calls.filter((call) => call.action === "AssumeRole");
      assert.equal(assumeCalls.length, 2);
      assert.ok(assumeCalls.every((call) => call.signatureValid && call.accessKeyId === SOURCE_KEYS.accessKeyId));
    } finally {
      await proxy.stop();
      await sts.stop();
    }
  });

  test(`debug logs of failures carry no secret (${target.name})`, async () => {
    const stack = await startStack({
      target,
      services: {
        web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: WEB_ROLE_ARN, ExternalId: "external-secret-42" } },
      },
      beforeStart: (sts) => sts.deny({ action: "AssumeRole" }),
    });
    try {
      const denied = await stack.proxy.request("/v1/credentials", WEB_TOKEN);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.Code, "AccessDenied");
      await stack.proxy.request("/v1/credentials", "wrong-token-0123456789abcdef");
      await stack.proxy.request("/v1/credentials", `Bearer ${WEB_TOKEN}`);
      await stack.proxy.request("/v1/credentials");
      stack.proxy.secrets.add("external-secret-42");
      const logs = stack.proxy.logs;
      assert.match(logs, /"level":"debug"|"level":"info"/);
      assert.match(logs, /"errorCode":"AccessDenied"/);
      assert.match(logs, /"externalIdSet":true/);
      for (const secret of stack.proxy.secrets) assert.ok(!logs.includes(secret), `a secret of ${secret.length} characters was logged`);
    } finally {
      await stack.close();
    }
  });
}
