import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  changesOf,
  configFor,
  INTERVAL_MS,
  localService,
  makeDir,
  removeDir,
  sleep,
  startHarness,
  tokenFor,
  waitFor,
  writeServices,
} from "./dynamic-fixture.ts";

test("LiveServices serves services of files present at start", async () => {
  const dir = makeDir();
  writeServices(join(dir, "team.yaml"), { reports: localService(tokenFor("reports")), billing: localService(tokenFor("billing")) });
  writeFileSync(join(dir, "bare.json"), JSON.stringify({ search: localService(tokenFor("search")) }));
  const harness = await startHarness(configFor([dir]));
  try {
    assert.deepEqual(harness.names(), ["billing", "reports", "search"]);
    assert.equal(harness.registry.findByToken(tokenFor("reports"))?.name, "reports");
    assert.equal(harness.registry.get("reports")?.broker.status().state, "ready");
    assert.deepEqual(Object.fromEntries(harness.live.origins()), {
      reports: join(dir, "team.yaml"),
      billing: join(dir, "team.yaml"),
      search: join(dir, "bare.json"),
    });
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices applies a file renamed over the old one", async () => {
  const dir = makeDir();
  const path = join(dir, "app.yaml");
  writeServices(path, { app: localService(tokenFor("app"), 3600) });
  const harness = await startHarness(configFor([dir]));
  try {
    const before = harness.registry.get("app");
    writeServices(join(dir, ".app.yaml.tmp"), { app: localService(tokenFor("app"), 7200) });
    renameSync(join(dir, ".app.yaml.tmp"), path);

    await waitFor(() => harness.registry.get("app") !== before, "the service to be rebuilt");
    assert.equal(before?.broker.status().state, "stopped");
    assert.deepEqual(changesOf(harness.applied).at(-1), { added: [], updated: ["app"], removed: [] });
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices applies a file copied over the old one", async () => {
  const dir = makeDir();
  const path = join(dir, "app.yaml");
  writeServices(path, { app: localService(tokenFor("app")) });
  const harness = await startHarness(configFor([dir]));
  try {
    const source = join(makeDir(), "new.yaml");
    writeServices(source, { app: localService(tokenFor("app")), extra: localService(tokenFor("extra")) });
    copyFileSync(source, path);

    await waitFor(() => harness.registry.get("extra") !== undefined, "the copied file's new service");
    assert.deepEqual(harness.names(), ["app", "extra"]);
    assert.deepEqual(changesOf(harness.applied).at(-1), { added: ["extra"], updated: [], removed: [] });
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices removes exactly the services of a deleted file", async () => {
  const dir = makeDir();
  writeServices(join(dir, "a.yaml"), { one: localService(tokenFor("one")), two: localService(tokenFor("two")) });
  writeServices(join(dir, "b.yaml"), { three: localService(tokenFor("three")) });
  const harness = await startHarness(configFor([dir]));
  try {
    const removed = harness.registry.get("one")!;
    unlinkSync(join(dir, "a.yaml"));

    await waitFor(() => harness.registry.size === 1, "the deleted file's services to go");
    assert.deepEqual(harness.names(), ["three"]);
    assert.equal(harness.registry.findByToken(tokenFor("one")), undefined);
    assert.equal(removed.broker.status().state, "stopped");
    assert.equal(removed.broker.status().expiration, undefined);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices removes the services of an emptied file", async () => {
  const dir = makeDir();
  writeServices(join(dir, "a.yaml"), { one: localService(tokenFor("one")) });
  const harness = await startHarness(configFor([dir]));
  try {
    writeFileSync(join(dir, "a.yaml"), "# no services for now\n");
    await waitFor(() => harness.registry.size === 0, "the emptied file's service to go");
    assert.deepEqual(changesOf(harness.applied).at(-1), { added: [], updated: [], removed: ["one"] });
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices picks up a directory created after start", async () => {
  const parent = makeDir();
  const dir = join(parent, "late");
  const harness = await startHarness(configFor([dir]));
  try {
    assert.equal(harness.registry.size, 0);
    mkdirSync(dir);
    writeServices(join(dir, "late.yaml"), { late: localService(tokenFor("late")) });
    await waitFor(() => harness.registry.get("late") !== undefined, "the late directory's service");

    // The watcher now watches the new directory: later edits arrive too.
    writeServices(join(dir, "more.yaml"), { more: localService(tokenFor("more")) });
    await waitFor(() => harness.registry.get("more") !== undefined, "a second file in the late directory");
  } finally {
    await harness.stop();
    removeDir(parent);
  }
});

test("LiveServices keeps a bad file's previous services until it is fixed", async () => {
  const dir = makeDir();
  const path = join(dir, "app.yaml");
  writeServices(path, { app: localService(tokenFor("app")) });
  const harness = await startHarness(configFor([dir]));
  try {
    const original = harness.registry.get("app");
    writeFileSync(path, "services:\n  app:\n    auth_token: [unclosed\n");
    await sleep(INTERVAL_MS * 5);
    assert.equal(harness.registry.get("app"), original);
    assert.equal(original?.broker.status().state, "ready");

    writeServices(path, { app: localService(tokenFor("app"), 7200), fixed: localService(tokenFor("fixed")) });
    await waitFor(() => harness.registry.get("fixed") !== undefined, "the fixed file's services");
    assert.notEqual(harness.registry.get("app"), original);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices keeps a file's services when a new version fails validation", async () => {
  const dir = makeDir();
  const path = join(dir, "app.yaml");
  writeServices(path, { app: localService(tokenFor("app")) });
  const harness = await startHarness(configFor([dir]));
  try {
    writeServices(path, { app: { auth_token: "short", assumed_role: { RoleArn: "not-an-arn" } } });
    await sleep(INTERVAL_MS * 5);
    assert.deepEqual(harness.names(), ["app"]);
    assert.equal(harness.registry.findByToken(tokenFor("app"))?.name, "app");
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices handles a vim save with one reload and no gap", async () => {
  const dir = makeDir();
  const path = join(dir, "x.yaml");
  writeServices(path, { x: localService(tokenFor("x"), 3600) });
  const harness = await startHarness(configFor([dir], {}, ["*"]));
  try {
    const changesBefore = changesOf(harness.applied).length;
    let gaps = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        if (!harness.registry.findByToken(tokenFor("x"))) gaps++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();

    // The steps vim takes with its default backupcopy=auto on Linux, slowed down so that a
    // scan lands while x.yaml does not exist.
    writeFileSync(join(dir, "4913"), "");
    unlinkSync(join(dir, "4913"));
    renameSync(path, `${path}~`);
    await sleep(INTERVAL_MS * 1.5);
    writeServices(path, { x: localService(tokenFor("x"), 7200) });
    writeFileSync(join(dir, ".x.yaml.swp"), "swap");
    unlinkSync(`${path}~`);

    await waitFor(() => changesOf(harness.applied).length > changesBefore, "the save to be applied");
    await sleep(INTERVAL_MS * 5);
    watching = false;
    await watcher;

    assert.equal(gaps, 0);
    assert.deepEqual(changesOf(harness.applied).slice(changesBefore), [{ added: [], updated: ["x"], removed: [] }]);
    assert.deepEqual(harness.names(), ["x"]);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices ignores editor leftovers even when every name is included", async () => {
  const dir = makeDir();
  for (const name of ["4913", "x.yaml~", ".x.yaml.swp", "x.yaml.swp", ".#x.yaml", "#x.yaml#", ".hidden.yaml"]) {
    writeServices(join(dir, name), { [`leftover${name.length}`]: localService(tokenFor(`leftover-${name.length}`)) });
  }
  const harness = await startHarness(configFor([dir], {}, ["*"]));
  try {
    assert.equal(harness.registry.size, 0);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices follows a ConfigMap ..data swap with one reload", async () => {
  const dir = makeDir();
  mkdirSync(join(dir, "..2026_01_01_00_00_00.1"));
  writeServices(join(dir, "..2026_01_01_00_00_00.1", "app.yaml"), { app: localService(tokenFor("app"), 3600) });
  symlinkSync("..2026_01_01_00_00_00.1", join(dir, "..data"));
  symlinkSync("..data/app.yaml", join(dir, "app.yaml"));
  const harness = await startHarness(configFor([dir]));
  try {
    assert.deepEqual(harness.names(), ["app"]);
    assert.deepEqual(Object.fromEntries(harness.live.origins()), { app: join(dir, "app.yaml") });
    const changesBefore = changesOf(harness.applied).length;

    // kubelet's steps: a new timestamped directory, ..data repointed, the old one removed.
    mkdirSync(join(dir, "..2026_01_01_00_05_00.2"));
    writeServices(join(dir, "..2026_01_01_00_05_00.2", "app.yaml"), { app: localService(tokenFor("app"), 7200) });
    unlinkSync(join(dir, "..data"));
    symlinkSync("..2026_01_01_00_05_00.2", join(dir, "..data"));
    rmSync(join(dir, "..2026_01_01_00_00_00.1"), { recursive: true });

    await waitFor(() => changesOf(harness.applied).length > changesBefore, "the swap to be applied");
    await sleep(INTERVAL_MS * 5);
    assert.deepEqual(changesOf(harness.applied).slice(changesBefore), [{ added: [], updated: ["app"], removed: [] }]);
    assert.deepEqual(harness.names(), ["app"]);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices retries a dangling ..data link instead of deleting", async () => {
  const dir = makeDir();
  mkdirSync(join(dir, "..v1"));
  writeServices(join(dir, "..v1", "app.yaml"), { app: localService(tokenFor("app"), 3600) });
  symlinkSync("..v1", join(dir, "..data"));
  symlinkSync("..data/app.yaml", join(dir, "app.yaml"));
  const harness = await startHarness(configFor([dir]));
  try {
    // A swap stuck half-way: ..data points at a directory that does not exist yet.
    unlinkSync(join(dir, "..data"));
    symlinkSync("..v2", join(dir, "..data"));
    rmSync(join(dir, "..v1"), { recursive: true });
    await sleep(INTERVAL_MS * 3);
    assert.deepEqual(harness.names(), ["app"]);
    assert.equal(harness.registry.get("app")?.broker.status().state, "ready");

    mkdirSync(join(dir, "..v2"));
    writeServices(join(dir, "..v2", "app.yaml"), { app: localService(tokenFor("app"), 7200) });
    await waitFor(() => changesOf(harness.applied).some((result) => result.updated.includes("app")), "the completed swap");
    assert.equal(changesOf(harness.applied).some((result) => result.removed.includes("app")), false);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices finds changes by scanning when events are off", async () => {
  const dir = makeDir();
  const harness = await startHarness(configFor([dir]), { useEvents: false });
  try {
    writeServices(join(dir, "polled.yaml"), { polled: localService(tokenFor("polled")) });
    await waitFor(() => harness.registry.get("polled") !== undefined, "the scan to find the new file");
    unlinkSync(join(dir, "polled.yaml"));
    await waitFor(() => harness.registry.size === 0, "the scan to notice the deletion");
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices leaves a service unchanged when its file is rewritten identically", async () => {
  const dir = makeDir();
  const path = join(dir, "app.yaml");
  writeServices(path, { app: localService(tokenFor("app")) });
  const harness = await startHarness(configFor([dir]));
  try {
    const original = harness.registry.get("app");
    const changesBefore = changesOf(harness.applied).length;
    writeFileSync(path, "");
    await sleep(INTERVAL_MS * 1.5);
    writeServices(path, { app: localService(tokenFor("app")) });
    await sleep(INTERVAL_MS * 5);
    assert.equal(harness.registry.get("app"), original);
    assert.equal(changesOf(harness.applied).length, changesBefore);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});
