import assert from "node:assert/strict";
import { test } from "node:test";
import { validateDocument } from "../../src/config/load.ts";
import { startCredProxy } from "../../src/server/server.ts";
import { FakeSts } from "../support/fake-sts.ts";

const SOURCE = { accessKeyId: "AKIAREADINESSTEST001", secretAccessKey: "readiness/secret+key/EXAMPLE00000000000000" };
const GOOD_TOKEN = "good-token-readiness-0123456789";
const DENIED_TOKEN = "denied-token-readiness-0123456789";

test("readiness view lists ready and failing services without secrets", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE);
  sts.deny({ action: "AssumeRole" });
  const { config } = validateDocument(
    {
      server: { port: 0 },
      services: {
        good: { auth_token: GOOD_TOKEN, source_credentials: { local: {} } },
        denied: {
          auth_token: DENIED_TOKEN,
          source_credentials: {
            region: "us-east-1",
            sts_endpoint: sts.url,
            iam_keys: { aws_access_key_id: SOURCE.accessKeyId, aws_secret_access_key: SOURCE.secretAccessKey },
          },
          assumed_role: { RoleArn: "arn:aws:iam::123456789012:role/denied", ExternalId: "readiness-external-id" },
        },
      },
    },
    "test.yaml",
    { env: {} },
  );
  const running = await startCredProxy({ config, env: {} });
  try {
    const response = await fetch(`${running.url}/ready`);
    const text = await response.text();
    const body = JSON.parse(text);
    const good = body.services.find((service: { name: string }) => service.name === "good");

    assert.equal(response.status, 503);
    assert.equal(body.status, "not_ready");
    assert.ok(good.expiresInSeconds > 3500, `good expires in ${good.expiresInSeconds} s`);
    assert.ok(good.expiresInSeconds <= 3600, `good expires in ${good.expiresInSeconds} s`);
    assert.deepEqual(body.services, [
      { name: "good", origin: "config", state: "ready", expiresInSeconds: good.expiresInSeconds },
      { name: "denied", origin: "config", state: "failing", lastErrorCode: "AccessDenied" },
    ]);
    for (const secret of [GOOD_TOKEN, DENIED_TOKEN, SOURCE.accessKeyId, SOURCE.secretAccessKey, "readiness-external-id"]) {
      assert.equal(text.includes(secret), false);
    }
    assert.deepEqual(await (await fetch(`${running.url}/health`)).json(), { status: "ok", services: 2 });
  } finally {
    await running.close(0);
    await sts.stop();
  }
});

test("readiness view answers 200 when every service is ready", async () => {
  const { config } = validateDocument(
    { server: { port: 0 }, services: { good: { auth_token: GOOD_TOKEN, source_credentials: { local: {} } } } },
    "test.yaml",
    { env: {} },
  );
  const running = await startCredProxy({ config, env: {} });
  try {
    const response = await fetch(`${running.url}/ready`);
    const body = await response.json();
    assert.equal(response.status, 200);
    assert.equal(body.status, "ready");
    assert.deepEqual(body.services.map((service: { state: string }) => service.state), ["ready"]);
  } finally {
    await running.close(0);
  }
});
