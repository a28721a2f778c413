/**
 * Source credentials from the SDK's default chain and from a profile that yields temporary
 * credentials, and the endpoint variables that point STS calls elsewhere.
 */

import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { resolveRegion, resolveStsEndpoint } from "../../src/credentials/service-credentials.ts";
import { deriveSessionName } from "../../src/credentials/service-credentials.ts";
import { CredProxyProcess, launchTargets, tempDir } from "../support/credproxy-process.ts";
import { FakeSts } from "../support/fake-sts.ts";
import { SOURCE_KEYS, WEB_ROLE_ARN, WEB_TOKEN } from "../support/stack.ts";

test("resolveStsEndpoint() prefers config, then the STS variable, then the general one", () => {
  const env = { AWS_ENDPOINT_URL_STS: "http://sts.local:1", AWS_ENDPOINT_URL: "http://all.local:2" };
  assert.equal(resolveStsEndpoint({ sts_endpoint: "http://config.local:3" }, env), "http://config.local:3");
  assert.equal(resolveStsEndpoint({}, env), "http://sts.local:1");
  assert.equal(resolveStsEndpoint({}, { AWS_ENDPOINT_URL: "http://all.local:2" }), "http://all.local:2");
  assert.equal(resolveStsEndpoint({}, { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true" }), undefined);
  assert.equal(resolveStsEndpoint({}, {}), undefined);
});

test("resolveRegion() falls back through the region variables", () => {
  assert.equal(resolveRegion({ region: "eu-west-1" }, { AWS_REGION: "us-west-2" }), "eu-west-1");
  assert.equal(resolveRegion({}, { AWS_REGION: "us-west-2", AWS_DEFAULT_REGION: "ap-south-1" }), "us-west-2");
  assert.equal(resolveRegion({}, { AWS_DEFAULT_REGION: "ap-south-1" }), "ap-south-1");
  assert.equal(resolveRegion({}, {}), "us-east-1");
});

test("deriveSessionName() keeps STS's character set and length", () => {
  assert.equal(deriveSessionName("web"), "credproxy-web");
  assert.equal(deriveSessionName("team/app:v2"), "credproxy-team-app-v2");
  assert.equal(deriveSessionName("x".repeat(80)).length, 64);
});

for (const target of launchTargets()) {
  test(`default chain source signs AssumeRole (${target.name})`, async () => {
    const sts = await FakeSts.start();
    sts.addIdentity(SOURCE_KEYS);
    const proxy = await CredProxyProcess.start({
      target,
      config: { services: { web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: WEB_ROLE_ARN } } } },
      // The default chain reads the environment first; the endpoint comes from AWS_ENDPOINT_URL_STS.
      env: {
        AWS_ACCESS_KEY_ID: SOURCE_KEYS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: SOURCE_KEYS.secretAccessKey,
        AWS_REGION: "us-east-1",
        AWS_ENDPOINT_URL_STS: sts.url,
      },
      secrets: [SOURCE_KEYS.secretAccessKey],
    });
    try {
      const response = await proxy.request("/v1/credentials", WEB_TOKEN);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const call = sts.calls.find((item) => item.action === "AssumeRole");
      assert.equal(call?.accessKeyId, SOURCE_KEYS.accessKeyId);
      assert.equal(call?.signatureValid, true);
    } finally {
      await proxy.stop();
      await sts.stop();
    }
  });

  test(`temporary profile credentials are served as they are (${target.name})`, async () => {
    const directory = tempDir();
    const expiration = new Date(Date.now() + 3 * 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    const temporary = {
      AccessKeyId: "ASIAPROCESSTEMPORARY",
      SecretAccessKey: "process/temporary/secret/0123456789abcdef",
      SessionToken: "process-session-token-0123456789",
      Expiration: expiration,
    };
    const script = join(directory, "credential-process.sh");
    writeFileSync(script, `#!/bin/sh\necho '${JSON.stringify({ Version: 1, ...temporary })}'\n`);
    chmodSync(script, 0o755);
    writeFileSync(join(directory, "config"), `[profile temporary]\ncredential_process = ${script}\n`);
    const proxy = await CredProxyProcess.start({
      target,
      config: {
        services: {
          web: {
            auth_token: WEB_TOKEN,
            source_credentials: { iam_profile: { profile_name: "temporary", config_file: join(directory, "config") } },
          },
        },
      },
      secrets: [temporary.SecretAccessKey, temporary.SessionToken],
    });
    try {
      const response = await proxy.request("/v1/credentials", WEB_TOKEN);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body, {
        AccessKeyId: temporary.AccessKeyId,
        SecretAccessKey: temporary.SecretAccessKey,
        Token: temporary.SessionToken,
        Expiration: expiration,
      });
    } finally {
      await proxy.stop();
    }
  });
}
