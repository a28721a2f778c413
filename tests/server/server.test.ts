/**
 * startCredProxy() in-process, over real HTTP on 127.0.0.1, against the fake STS.
 */

import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { validateDocument } from "../../src/config/load.ts";
import { startCredProxy, useConnectionGuard } from "../../src/server/server.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { FakeSts } from "../support/fake-sts.ts";
import { withCapturedLogs } from "../support/log-capture.ts";
import { SOURCE_KEYS, WEB_ROLE_ARN, WEB_TOKEN } from "../support/stack.ts";

function configFor(stsUrl: string, services: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return validateDocument({
    server: { port: 0 },
    aws_defaults: {
      region: "us-east-1",
      sts_endpoint: stsUrl,
      iam_keys: { aws_access_key_id: SOURCE_KEYS.accessKeyId, aws_secret_access_key: SOURCE_KEYS.secretAccessKey },
    },
    services: { web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: WEB_ROLE_ARN } }, ...services },
    ...extra,
  }, "test", { env: {} }).config;
}

/** Secrets that no log line of these tests may contain; served ones are added as they come. */
const knownSecrets = [WEB_TOKEN, SOURCE_KEYS.secretAccessKey, "external-id-123", "FwoGZXIvYXdzEXAMPLEsessiontoken", "temporary/secret/EXAMPLE/0123456789abcdef"];
const servedSecrets = new Set<string>();

async function getCredentials(url: string, token = WEB_TOKEN) {
  const response = await fetch(`${url}/v1/credentials`, { headers: { Authorization: token } });
  const body = await response.json();
  if (body.SecretAccessKey) servedSecrets.add(body.SecretAccessKey);
  if (body.Token) servedSecrets.add(body.Token);
  return { status: response.status, body };
}

/** Runs a test with its logs captured at debug level and checked for every secret it saw. */
function logged(name: string, body: () => Promise<void>) {
  test(name, () =>
    withCapturedLogs(name, knownSecrets, async (capture) => {
      try {
        await body();
      } finally {
        for (const secret of servedSecrets) capture.secrets.add(secret);
      }
    }));
}

logged("startCredProxy() makes one STS call for 500 cold requests", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE_KEYS);
  sts.stall(300, { action: "AssumeRole" });
  const proxy = await startCredProxy({ config: configFor(sts.url), env: {}, warmBeforeListening: false });
  try {
    const results = await Promise.all(Array.from({ length: 500 }, () => getCredentials(proxy.url)));
    assert.deepEqual(new Set(results.map((result) => result.status)), new Set([200]));
    assert.equal(new Set(results.map((result) => result.body.AccessKeyId)).size, 1);
    assert.equal(sts.count("AssumeRole"), 1);
  } finally {
    await proxy.close();
    await sts.stop();
  }
});

logged("startCredProxy() serves from cache while STS is down", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE_KEYS);
  const proxy = await startCredProxy({ config: configFor(sts.url), env: {} });
  try {
    const before = await getCredentials(proxy.url);
    sts.fail({ status: 503 });
    const during = await getCredentials(proxy.url);
    assert.equal(during.status, 200);
    assert.equal(during.body.AccessKeyId, before.body.AccessKeyId);
    assert.equal(sts.count("AssumeRole"), 1);
  } finally {
    await proxy.close();
    await sts.stop();
  }
});

logged("startCredProxy() answers 503 when nothing valid is cached", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE_KEYS);
  sts.fail({ status: 503 });
  const proxy = await startCredProxy({ config: configFor(sts.url), env: {} });
  try {
    const result = await getCredentials(proxy.url);
    assert.equal(result.status, 503);
    assert.equal(result.body.Code, "ServiceUnavailable");
    assert.match(result.body.Message, /service "web"/);
  } finally {
    await proxy.close();
    await sts.stop();
  }
});

logged("startCredProxy() passes every AssumeRole parameter", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE_KEYS);
  const role = {
    RoleArn: "arn:aws-us-gov:iam::111122223333:role/path/app",
    RoleSessionName: "app-session",
    DurationSeconds: 7200,
    ExternalId: "external-id-123",
    Policy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] },
    PolicyArns: ["arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess"],
    Tags: [{ Key: "team", Value: "web" }],
    TransitiveTagKeys: ["team"],
    SourceIdentity: "alice",
  };
  const proxy = await startCredProxy({ config: configFor(sts.url, { web: { auth_token: WEB_TOKEN, assumed_role: role } }), env: {} });
  try {
    const result = await getCredentials(proxy.url);
    assert.equal(result.status, 200);
    assert.equal(result.body.RoleArn, role.RoleArn);
    assert.equal(result.body.AccountId, "111122223333");
    const params = sts.calls.find((call) => call.action === "AssumeRole")!.params;
    assert.deepEqual(
      {
        RoleArn: params.RoleArn,
        RoleSessionName: params.RoleSessionName,
        DurationSeconds: params.DurationSeconds,
        ExternalId: params.ExternalId,
        Policy: JSON.parse(params.Policy),
        PolicyArn: params["PolicyArns.member.1.arn"],
        TagKey: params["Tags.member.1.Key"],
        TagValue: params["Tags.member.1.Value"],
        Transitive: params["TransitiveTagKeys.member.1"],
        SourceIdentity: params.SourceIdentity,
      },
      {
        RoleArn: role.RoleArn,
        RoleSessionName: "app-session",
        DurationSeconds: "7200",
        ExternalId: "external-id-123",
        Policy: role.Policy,
        PolicyArn: role.PolicyArns[0],
        TagKey: "team",
        TagValue: "web",
        Transitive: "team",
        SourceIdentity: "alice",
      },
    );
  } finally {
    await proxy.close();
    await sts.stop();
  }
});

logged("startCredProxy() exchanges long-term keys with GetSessionToken", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE_KEYS);
  const proxy = await startCredProxy({ config: configFor(sts.url, { web: { auth_token: WEB_TOKEN } }), env: {} });
  try {
    const result = await getCredentials(proxy.url);
    assert.equal(result.status, 200);
    assert.notEqual(result.body.AccessKeyId, SOURCE_KEYS.accessKeyId);
    assert.ok(!JSON.stringify(result.body).includes(SOURCE_KEYS.secretAccessKey));
    assert.equal(sts.count("GetSessionToken"), 1);
    assert.equal(sts.calls[0].params.DurationSeconds, "3600");
  } finally {
    await proxy.close();
    await sts.stop();
  }
});

logged("startCredProxy() assumes a role from temporary source keys", async () => {
  const sts = await FakeSts.start();
  const temporary = { accessKeyId: "ASIAEXAMPLETEMPORARY", secretAccessKey: "temporary/secret/EXAMPLE/0123456789abcdef", sessionToken: "FwoGZXIvYXdzEXAMPLEsessiontoken" };
  sts.addIdentity(temporary);
  const config = validateDocument({
    server: { port: 0 },
    services: {
      web: {
        auth_token: WEB_TOKEN,
        source_credentials: {
          sts_endpoint: sts.url,
          iam_keys: { aws_access_key_id: temporary.accessKeyId, aws_secret_access_key: temporary.secretAccessKey, session_token: temporary.sessionToken },
        },
        assumed_role: { RoleArn: WEB_ROLE_ARN },
      },
    },
  }, "test", { env: {} }).config;
  const proxy = await startCredProxy({ config, env: {} });
  try {
    const result = await getCredentials(proxy.url);
    assert.equal(result.status, 200);
    assert.match(result.body.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const call = sts.calls.find((item) => item.action === "AssumeRole")!;
    assert.equal(call.accessKeyId, temporary.accessKeyId);
    assert.equal(call.signatureValid, true);
  } finally {
    await proxy.close();
    await sts.stop();
  }
});

logged("startCredProxy() serves STS's Expiration string exactly", async () => {
  // A canned STS answer, as real STS formats it, at a fixed moment of the fake clock.
  const xml = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIACANNEDCANNED0001</AccessKeyId><SecretAccessKey>canned/secret/0123456789012345678901234567</SecretAccessKey>
<SessionToken>canned-session-token</SessionToken><Expiration>2025-03-01T13:00:00Z</Expiration></Credentials>
<AssumedRoleUser><AssumedRoleId>AROACANNED:credproxy-web</AssumedRoleId><Arn>arn:aws:sts::111122223333:assumed-role/web-app/credproxy-web</Arn></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>canned</RequestId></ResponseMetadata></AssumeRoleResponse>`;
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "text/xml" });
      response.end(xml);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clock = new FakeClock(Date.parse("2025-03-01T12:00:00Z"));
  const proxy = await startCredProxy({ config: configFor(url), env: {}, clock });
  try {
    const response = await fetch(`${proxy.url}/v1/credentials`, { headers: { Authorization: WEB_TOKEN } });
    const text = await response.text();
    assert.equal(response.status, 200);
    assert.match(text, /"Expiration":"2025-03-01T13:00:00Z"/);
    const body = JSON.parse(text);
    assert.deepEqual(Object.keys(body), ["AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn", "AccountId"]);
    assert.equal(body.Token, "canned-session-token");
    assert.equal("SessionToken" in body, false);
  } finally {
    await proxy.close();
    server.close();
  }
});

logged("startCredProxy() reports a bound address", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE_KEYS);
  const proxy = await startCredProxy({ config: configFor(sts.url), env: {} });
  try {
    assert.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${proxy.url}/health`);
    assert.deepEqual(await health.json(), { status: "ok", services: 1 });
  } finally {
    await proxy.close();
    await sts.stop();
  }
});

logged("startCredProxy() exports the clock skew STS reports", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE_KEYS);
  sts.setClockOffset(3600);
  const proxy = await startCredProxy({ config: configFor(sts.url), env: {} });
  try {
    const result = await getCredentials(proxy.url);
    assert.equal(result.status, 200);
    const match = /^credproxy_sts_clock_skew_seconds (-?\d+)$/m.exec(await proxy.metrics.text());
    assert.ok(match, "no clock skew series");
    assert.ok(Math.abs(Number(match[1]) - 3600) <= 5, `skew ${match[1]} s`);
  } finally {
    await proxy.close();
    await sts.stop();
  }
});

test("useConnectionGuard() guards only beyond loopback in auto mode", () => {
  const hosts = ["127.0.0.1", "::1", "localhost", "0.0.0.0", "192.0.2.10", "::"];
  assert.deepEqual(hosts.map((host) => useConnectionGuard("auto", host)), [false, false, false, true, true, true]);
  assert.deepEqual(hosts.map((host) => useConnectionGuard("always", host)), [true, true, true, true, true, true]);
  assert.deepEqual(hosts.map((host) => useConnectionGuard("never", host)), [false, false, false, false, false, false]);
});
