import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { loadConfigFile, validateDocument } from "../../src/config/load.ts";
import { ConfigReloader, restartOnlyChanges } from "../../src/config/reload.ts";
import type { Config } from "../../src/config/schema.ts";
import { startCredProxy } from "../../src/server/server.ts";
import { localService, makeDir, removeDir, tokenFor } from "../services/dynamic-fixture.ts";
import { withCapturedLogs } from "../support/log-capture.ts";

function configOf(document: Record<string, unknown>): Config {
  return validateDocument({ server: { port: 0 }, ...document }, "test.yaml", { env: {} }).config;
}

async function status(url: string, token: string): Promise<number> {
  const response = await fetch(`${url}/v1/credentials`, { headers: { authorization: token } });
  await response.body?.cancel();
  return response.status;
}

test("RunningCredProxy.reload() keeps unchanged services and their credentials", async () => {
  const running = await startCredProxy({
    config: configOf({ services: { kept: localService(tokenFor("kept")), changed: localService(tokenFor("changed")), dropped: localService(tokenFor("dropped")) } }),
    env: {},
  });
  try {
    const kept = running.registry.get("kept")!;
    const changed = running.registry.get("changed")!;
    const keptExpiration = kept.broker.status().expiration;

    const result = await running.reload(configOf({
      services: { kept: localService(tokenFor("kept")), changed: localService(tokenFor("changed"), 7200), added: localService(tokenFor("added")) },
    }));

    assert.deepEqual(result, { added: ["added"], updated: ["changed"], removed: ["dropped"] });
    assert.equal(running.registry.get("kept"), kept);
    assert.equal(kept.broker.status().expiration, keptExpiration);
    assert.equal(changed.broker.status().state, "stopped");
    assert.equal(running.registry.get("added")?.broker.status().state, "ready");
    assert.equal(await status(running.url, tokenFor("kept")), 200);
    assert.equal(await status(running.url, tokenFor("added")), 200);
    assert.equal(await status(running.url, tokenFor("dropped")), 401);
  } finally {
    await running.close(0);
  }
});

test("RunningCredProxy.reload() rotates a token without a new broker", async () => {
  const running = await startCredProxy({ config: configOf({ services: { app: localService(tokenFor("old")) } }), env: {} });
  try {
    const broker = running.registry.get("app")!.broker;
    const before = await fetch(`${running.url}/v1/credentials`, { headers: { authorization: tokenFor("old") } }).then((response) => response.json());

    const result = await running.reload(configOf({ services: { app: localService(tokenFor("new")) } }));

    assert.deepEqual(result, { added: [], updated: ["app"], removed: [] });
    assert.equal(running.registry.get("app")!.broker, broker);
    assert.equal(broker.status().state, "ready");
    const after = await fetch(`${running.url}/v1/credentials`, { headers: { authorization: tokenFor("new") } }).then((response) => response.json());
    assert.equal(after.AccessKeyId, before.AccessKeyId);
    // The old token keeps working for the overlap, because clients read token files once.
    assert.equal(await status(running.url, tokenFor("old")), 200);
  } finally {
    await running.close(0);
  }
});

test("RunningCredProxy.reload() rebuilds services that inherit changed defaults", async () => {
  const running = await startCredProxy({
    config: configOf({ aws_defaults: { local: { duration_seconds: 3600 } }, services: { app: { auth_token: tokenFor("app") }, own: localService(tokenFor("own")) } }),
    env: {},
  });
  try {
    const result = await running.reload(configOf({
      aws_defaults: { local: { duration_seconds: 7200 } },
      services: { app: { auth_token: tokenFor("app") }, own: localService(tokenFor("own")) },
    }));
    assert.deepEqual(result, { added: [], updated: ["app"], removed: [] });
  } finally {
    await running.close(0);
  }
});

test("RunningCredProxy.reload() checks dynamic files again under the new config", async () => {
  const dir = makeDir();
  writeFileSync(join(dir, "team.yaml"), stringify({ services: { team: localService(tokenFor("team"), 3600) } }));
  const dynamic = { enabled: true, reload_interval: 0.05, directories: [{ path: dir }] };
  const running = await startCredProxy({ config: configOf({ dynamic_services: dynamic }), env: {} });
  try {
    // A refresh buffer this large makes the file's duration too short, so the file is now
    // invalid: its previous service stays exactly as it runs, broker and cache included.
    const broker = running.registry.get("team")!.broker;
    const result = await running.reload(configOf({ credentials: { refresh_buffer_seconds: 3500 }, dynamic_services: dynamic }));
    assert.deepEqual(result, { added: [], updated: [], removed: [] });
    assert.equal(running.registry.get("team")!.broker, broker);
    assert.equal(broker.status().state, "ready");
    assert.equal(await status(running.url, tokenFor("team")), 200);
    assert.match(await running.metrics.text(), /^credproxy_dynamic_reload_failures_total 1$/m);
  } finally {
    await running.close(0);
    removeDir(dir);
  }
});

test("ConfigReloader.reload() keeps the running config when the file is invalid", async () => {
  const dir = makeDir();
  const path = join(dir, "credproxy.yaml");
  writeFileSync(path, stringify({ services: { app: localService(tokenFor("app")) } }));
  const applied: Config[] = [];
  const results: string[] = [];
  const reloader = new ConfigReloader({
    path,
    env: {},
    current: loadConfigFile(path, { env: {} }).config,
    apply: (config) => Promise.resolve(void applied.push(config)),
    onResult: (result) => results.push(result),
  });
  try {
    writeFileSync(path, "services:\n  app:\n    auth_token: [\n");
    assert.equal(await reloader.reload(), false);
    assert.equal(applied.length, 0);
    assert.deepEqual(Object.keys(reloader.current.services), ["app"]);

    writeFileSync(path, stringify({ services: { app: localService(tokenFor("app")), more: localService(tokenFor("more")) } }));
    assert.equal(await reloader.reload(), true);
    assert.deepEqual(applied.map((config) => Object.keys(config.services)), [["app", "more"]]);
    assert.deepEqual(results, ["failure", "success"]);
  } finally {
    removeDir(dir);
  }
});

test("ConfigReloader.reload() merges a burst of requests", async () => {
  const dir = makeDir();
  const path = join(dir, "credproxy.yaml");
  writeFileSync(path, stringify({ services: { app: localService(tokenFor("app")) } }));
  let applies = 0;
  const reloader = new ConfigReloader({
    path,
    env: {},
    current: loadConfigFile(path, { env: {} }).config,
    apply: async () => {
      applies++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    },
  });
  try {
    const outcomes = await Promise.all([reloader.reload(), reloader.reload(), reloader.reload(), reloader.reload()]);
    assert.deepEqual(outcomes, [true, true, true, true]);
    assert.equal(applies, 2);
  } finally {
    removeDir(dir);
  }
});

test("restartOnlyChanges() names sections read only at start-up", () => {
  const before = configOf({ services: { app: localService(tokenFor("app")) } });
  const after = configOf({ server: { port: 0, host: "::1" }, metrics: { prometheus: { enabled: true } }, services: {} });
  assert.deepEqual(restartOnlyChanges(before, after), ["server", "metrics"]);
  assert.deepEqual(restartOnlyChanges(before, before), []);
});

test("RunningCredProxy.reload() switches the watched directories", async () => {
  const oldDir = makeDir();
  const newDir = makeDir();
  writeFileSync(join(oldDir, "old.yaml"), stringify({ services: { old: localService(tokenFor("old")) } }));
  writeFileSync(join(newDir, "new.yaml"), stringify({ services: { new: localService(tokenFor("new")) } }));
  const watching = (path: string) => ({ dynamic_services: { enabled: true, reload_interval: 0.05, directories: [{ path }] } });
  const running = await startCredProxy({ config: configOf(watching(oldDir)), env: {} });
  try {
    assert.deepEqual(running.registry.list().map((service) => service.name), ["old"]);
    await running.reload(configOf(watching(newDir)));
    assert.deepEqual(running.registry.list().map((service) => service.name), ["new"]);
    assert.equal(await status(running.url, tokenFor("old")), 401);

    await running.reload(configOf({}));
    assert.equal(running.registry.size, 0);
  } finally {
    await running.close(0);
    removeDir(oldDir);
    removeDir(newDir);
  }
});

test("ConfigReloader.reload() warns of restart-only changes against the start-up config", async () => {
  const dir = makeDir();
  const path = join(dir, "credproxy.yaml");
  const write = (port: number) => writeFileSync(path, stringify({ server: { port }, services: { app: localService(tokenFor("app")) } }));
  write(1338);
  const warnings: string[] = [];
  await withCapturedLogs("restart-only warnings", [], async (capture) => {
    const reloader = new ConfigReloader({ path, env: {}, current: loadConfigFile(path, { env: {} }).config, apply: () => Promise.resolve() });
    write(1339);
    assert.equal(await reloader.reload(), true);
    warnings.push(...capture.lines.filter((line) => line.includes("takes effect after a restart")));
    write(1338);
    assert.equal(await reloader.reload(), true);
    // Back to what runs: no second warning.
    assert.equal(capture.lines.filter((line) => line.includes("takes effect after a restart")).length, 1);
  });
  assert.equal(warnings.length, 1);
  removeDir(dir);
});
