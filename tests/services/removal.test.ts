import assert from "node:assert/strict";
import { unlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { validateDocument } from "../../src/config/load.ts";
import { startCredProxy } from "../../src/server/server.ts";
import { FakeClock, settle } from "../support/fake-clock.ts";
import { FakeSts } from "../support/fake-sts.ts";
import { INTERVAL_MS, makeDir, removeDir, sleep, tokenFor, waitFor, writeServices } from "./dynamic-fixture.ts";

const SOURCE = { accessKeyId: "AKIAREMOVALTEST00001", secretAccessKey: "removal/secret+key/EXAMPLE000000000000000" };
const GONE_ROLE = "arn:aws:iam::123456789012:role/gone";
const KEPT_ROLE = "arn:aws:iam::123456789012:role/kept";

function roleService(token: string, roleArn: string, stsUrl: string): Record<string, unknown> {
  return {
    auth_token: token,
    source_credentials: {
      region: "us-east-1",
      sts_endpoint: stsUrl,
      iam_keys: { aws_access_key_id: SOURCE.accessKeyId, aws_secret_access_key: SOURCE.secretAccessKey },
    },
    assumed_role: { RoleArn: roleArn },
  };
}

test("LiveServices stops a deleted file's refresh loop", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE);
  const clock = new FakeClock(Date.now());
  const dir = makeDir();
  writeServices(join(dir, "gone.yaml"), { gone: roleService(tokenFor("gone"), GONE_ROLE, sts.url) });
  writeServices(join(dir, "kept.yaml"), { kept: roleService(tokenFor("kept"), KEPT_ROLE, sts.url) });
  const { config } = validateDocument(
    {
      server: { port: 0 },
      dynamic_services: { enabled: true, reload_interval: INTERVAL_MS / 1000, directories: [{ path: dir }] },
    },
    "test.yaml",
    { env: {} },
  );
  const running = await startCredProxy({ config, clock, env: {} });
  const callsFor = (role: string) => sts.calls.filter((call) => call.action === "AssumeRole" && call.params.RoleArn === role).length;
  const fetchCredentials = (token: string) => fetch(`${running.url}/v1/credentials`, { headers: { authorization: token } });
  try {
    assert.equal((await fetchCredentials(tokenFor("gone"))).status, 200);
    assert.match(await running.metrics.text(), /service="gone"/);
    const broker = running.registry.get("gone")!.broker;
    assert.equal(clock.pendingTimers, 2);

    unlinkSync(join(dir, "gone.yaml"));
    await waitFor(() => running.registry.get("gone") === undefined, "the service to be removed");

    const response = await fetchCredentials(tokenFor("gone"));
    assert.equal(response.status, 401);
    assert.equal((await response.json()).Code, "InvalidToken");
    assert.deepEqual(broker.status(), { state: "stopped", expiration: undefined, lastErrorCode: undefined, nextFetchAt: undefined });
    assert.equal(clock.pendingTimers, 1);

    const goneCalls = callsFor(GONE_ROLE);
    const keptCalls = callsFor(KEPT_ROLE);
    for (let step = 0; step < 12; step++) {
      await clock.advance(30 * 60_000);
      await sleep(30);
      await settle();
    }
    assert.equal(callsFor(GONE_ROLE), goneCalls);
    assert.ok(callsFor(KEPT_ROLE) > keptCalls, "the kept service should have refreshed while the clock moved six hours");
    assert.doesNotMatch(await running.metrics.text(), /service="gone"/);
    assert.match(await running.metrics.text(), /service="kept"/);
  } finally {
    await running.close(0);
    await sts.stop();
    removeDir(dir);
  }
});
