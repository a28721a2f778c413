import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { writeFileSync } from "node:fs";
import type { ServiceConfig } from "../../src/config/schema.ts";
import { CONFIG_ORIGIN, describeRejection, resolveOwnership } from "../../src/services/dynamic/ownership.ts";
import { configFor, localService, makeDir, removeDir, startHarness, tokenFor, waitFor, writeServices } from "./dynamic-fixture.ts";

function service(token: string): ServiceConfig {
  return { auth_token: token, source_credentials: { local: { account_id: "000000000000", duration_seconds: 3600 } } };
}

function filesOf(entries: [string, Record<string, ServiceConfig>][]): Map<string, Record<string, ServiceConfig>> {
  return new Map(entries);
}

function origins(ownership: ReturnType<typeof resolveOwnership>): Record<string, string> {
  return Object.fromEntries([...ownership.services.values()].map((claim) => [claim.name, claim.origin]));
}

test("resolveOwnership() never lets a file replace a static service", () => {
  const ownership = resolveOwnership({
    staticServices: { web: service(tokenFor("web")) },
    files: filesOf([["/d/a.yaml", { web: service(tokenFor("other")) }]]),
    previousOrigins: new Map(),
  });
  assert.deepEqual(origins(ownership), { web: CONFIG_ORIGIN });
  assert.deepEqual(ownership.rejections, [
    { service: "web", file: "/d/a.yaml", conflict: "name", heldBy: CONFIG_ORIGIN, heldByService: "web" },
  ]);
});

test("resolveOwnership() refuses a token still in overlap", () => {
  const replaced = tokenFor("replaced");
  const ownership = resolveOwnership({
    staticServices: { web: service(tokenFor("web")) },
    files: filesOf([["/d/a.yaml", { thief: service(replaced) }]]),
    previousOrigins: new Map(),
    overlapHolder: (token) => (token === replaced ? { name: "web", origin: CONFIG_ORIGIN } : undefined),
  });
  assert.deepEqual(origins(ownership), { web: CONFIG_ORIGIN });
  assert.deepEqual(ownership.rejections, [
    { service: "thief", file: "/d/a.yaml", conflict: "token", heldBy: CONFIG_ORIGIN, heldByService: "web" },
  ]);
});

test("resolveOwnership() refuses a static service's token in a file", () => {
  const ownership = resolveOwnership({
    staticServices: { web: service(tokenFor("web")) },
    files: filesOf([["/d/a.yaml", { copy: service(tokenFor("web")), fine: service(tokenFor("fine")) }]]),
    previousOrigins: new Map(),
  });
  assert.deepEqual(origins(ownership), { web: CONFIG_ORIGIN, fine: "/d/a.yaml" });
  assert.deepEqual(ownership.rejections, [
    { service: "copy", file: "/d/a.yaml", conflict: "token", heldBy: CONFIG_ORIGIN, heldByService: "web" },
  ]);
});

test("resolveOwnership() keeps a name with the file that held it", () => {
  const ownership = resolveOwnership({
    staticServices: {},
    files: filesOf([
      ["/d/a.yaml", { app: service(tokenFor("a")) }],
      ["/d/b.yaml", { app: service(tokenFor("b")) }],
    ]),
    previousOrigins: new Map([["app", "/d/b.yaml"]]),
  });
  assert.deepEqual(origins(ownership), { app: "/d/b.yaml" });
  assert.deepEqual(ownership.rejections, [
    { service: "app", file: "/d/a.yaml", conflict: "name", heldBy: "/d/b.yaml", heldByService: "app" },
  ]);
});

test("resolveOwnership() keeps a token with the file that held it", () => {
  const ownership = resolveOwnership({
    staticServices: {},
    files: filesOf([
      ["/d/a.yaml", { first: service(tokenFor("shared")) }],
      ["/d/b.yaml", { second: service(tokenFor("shared")) }],
    ]),
    previousOrigins: new Map([["second", "/d/b.yaml"]]),
  });
  assert.deepEqual(origins(ownership), { second: "/d/b.yaml" });
  assert.equal(ownership.rejections[0].conflict, "token");
  assert.equal(ownership.rejections[0].file, "/d/a.yaml");
});

test("resolveOwnership() lets the first path win between newcomers", () => {
  const ownership = resolveOwnership({
    staticServices: {},
    files: filesOf([
      ["/d/b.yaml", { app: service(tokenFor("b")) }],
      ["/d/a.yaml", { app: service(tokenFor("a")) }],
    ]),
    previousOrigins: new Map(),
  });
  assert.deepEqual(origins(ownership), { app: "/d/a.yaml" });
});

test("describeRejection() names both files and no token", () => {
  const token = tokenFor("secret-token");
  const ownership = resolveOwnership({
    staticServices: {},
    files: filesOf([["/d/a.yaml", { one: service(token) }], ["/d/b.yaml", { two: service(token) }]]),
    previousOrigins: new Map(),
  });
  const message = describeRejection(ownership.rejections[0], "/etc/credproxy.yaml");
  assert.equal(
    message,
    'Ignoring service "two" in "/d/b.yaml": its auth_token is already the token of service "one" in "/d/a.yaml"; every service needs its own token',
  );
  assert.equal(message.includes(token), false);
});

test("describeRejection() names the main config for a static name", () => {
  const message = describeRejection(
    { service: "web", file: "/d/a.yaml", conflict: "name", heldBy: CONFIG_ORIGIN, heldByService: "web" },
    "/etc/credproxy.yaml",
  );
  assert.equal(message, 'Ignoring service "web" in "/d/a.yaml": the main config "/etc/credproxy.yaml" already defines a service of that name; rename one of them');
});

test("LiveServices serves a refused service once its conflict is gone", async () => {
  const dir = makeDir();
  writeServices(join(dir, "a.yaml"), { app: localService(tokenFor("a")) });
  writeServices(join(dir, "b.yaml"), { app: localService(tokenFor("b")) });
  const harness = await startHarness(configFor([dir]));
  try {
    assert.deepEqual(Object.fromEntries(harness.live.origins()), { app: join(dir, "a.yaml") });
    assert.equal(harness.registry.findByToken(tokenFor("b")), undefined);

    writeFileSync(join(dir, "a.yaml"), "");
    await waitFor(() => harness.live.origins().get("app") === join(dir, "b.yaml"), "b.yaml to take over the name");
    assert.equal(harness.registry.findByToken(tokenFor("b"))?.name, "app");
    assert.equal(harness.registry.findByToken(tokenFor("a")), undefined);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});

test("LiveServices keeps a static service when a file claims its name", async () => {
  const dir = makeDir();
  writeServices(join(dir, "a.yaml"), { web: localService(tokenFor("intruder")) });
  const harness = await startHarness(configFor([dir], { services: { web: localService(tokenFor("web")) } }));
  try {
    assert.deepEqual(Object.fromEntries(harness.live.origins()), { web: "config" });
    assert.equal(harness.registry.findByToken(tokenFor("web"))?.name, "web");
    assert.equal(harness.registry.findByToken(tokenFor("intruder")), undefined);
  } finally {
    await harness.stop();
    removeDir(dir);
  }
});
