import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CredentialBroker } from "../../src/credentials/broker.ts";
import { writeTokenFile } from "../../src/credentials/token-file.ts";
import { type Service, ServiceRegistry } from "../../src/services/registry.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { tempDir } from "../support/credproxy-process.ts";

const OLD_TOKEN = "old-token-0123456789abcdef";
const NEW_TOKEN = "new-token-0123456789abcdef";
const NEWEST_TOKEN = "newest-token-0123456789abc";

function service(name: string, clock: FakeClock): Service {
  const broker = new CredentialBroker({ service: name, fetch: () => Promise.reject(new Error("unused")), refreshBufferSeconds: 60, retryDelaySeconds: 1, clock });
  return { name, origin: "config", broker };
}

function registry(overlapSeconds: number) {
  const clock = new FakeClock();
  return { clock, registry: new ServiceRegistry({ tokenOverlapSeconds: overlapSeconds, now: () => clock.now() }) };
}

test("ServiceRegistry.set() keeps the previous token for the overlap", () => {
  const { clock, registry: services } = registry(600);
  services.set(service("web", clock), OLD_TOKEN);
  const replacement = service("web", clock);
  services.set(replacement, NEW_TOKEN);

  assert.equal(services.findByToken(NEW_TOKEN), replacement);
  assert.equal(services.findByToken(OLD_TOKEN), replacement);
  clock.jump(599_000);
  assert.equal(services.findByToken(OLD_TOKEN), replacement);
  clock.jump(1000);
  assert.equal(services.findByToken(OLD_TOKEN), undefined);
  assert.equal(services.findByToken(NEW_TOKEN), replacement);
});

test("ServiceRegistry.set() with overlap 0 cuts the old token off", () => {
  const { clock, registry: services } = registry(0);
  services.set(service("web", clock), OLD_TOKEN);
  services.set(service("web", clock), NEW_TOKEN);
  assert.equal(services.findByToken(OLD_TOKEN), undefined);
  assert.equal(services.retiredTokens, 0);
});

test("ServiceRegistry keeps each replaced token for its own overlap", () => {
  const { clock, registry: services } = registry(600);
  services.set(service("web", clock), OLD_TOKEN);
  services.set(service("web", clock), NEW_TOKEN);
  clock.jump(300_000);
  services.set(service("web", clock), NEWEST_TOKEN);

  assert.equal(services.findByToken(OLD_TOKEN)?.name, "web");
  assert.equal(services.findByToken(NEW_TOKEN)?.name, "web");
  clock.jump(300_000);
  assert.equal(services.findByToken(OLD_TOKEN), undefined);
  assert.equal(services.findByToken(NEW_TOKEN)?.name, "web");
});

test("ServiceRegistry.delete() ends the overlap of the service's tokens", () => {
  const { clock, registry: services } = registry(600);
  services.set(service("web", clock), OLD_TOKEN);
  services.set(service("web", clock), NEW_TOKEN);
  services.delete("web");
  services.set(service("web", clock), NEWEST_TOKEN);

  assert.equal(services.findByToken(OLD_TOKEN), undefined);
  assert.equal(services.findByToken(NEW_TOKEN), undefined);
});

test("ServiceRegistry lets another service take over a token in overlap", () => {
  const { clock, registry: services } = registry(600);
  services.set(service("web", clock), OLD_TOKEN);
  services.set(service("web", clock), NEW_TOKEN);

  assert.equal(services.hasToken(OLD_TOKEN), false);
  services.set(service("api", clock), OLD_TOKEN);
  assert.equal(services.findByToken(OLD_TOKEN)?.name, "api");
});

test("ServiceRegistry.set() with the same token keeps no retired copy", () => {
  const { clock, registry: services } = registry(600);
  services.set(service("web", clock), OLD_TOKEN);
  services.set(service("web", clock), OLD_TOKEN);
  assert.equal(services.retiredTokens, 0);
  assert.equal(services.findByToken(OLD_TOKEN)?.name, "web");
});

test("writeTokenFile() writes mode 0600 without a newline", () => {
  const directory = tempDir();
  const path = join(directory, "token");
  writeTokenFile(path, NEW_TOKEN);

  assert.equal(readFileSync(path, "utf8"), NEW_TOKEN);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(directory), ["token"]);
});

test("writeTokenFile() replaces a token atomically", () => {
  const path = join(tempDir(), "token");
  writeTokenFile(path, OLD_TOKEN);
  writeTokenFile(path, NEW_TOKEN);
  assert.equal(readFileSync(path, "utf8"), NEW_TOKEN);
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test("writeTokenFile() rejects a token with a newline", () => {
  const path = join(tempDir(), "token");
  assert.throws(() => writeTokenFile(path, `${NEW_TOKEN}\n`), RangeError);
  assert.throws(() => statSync(path), { code: "ENOENT" });
});

test("ServiceRegistry.set() of the running service changes only its token", () => {
  const { clock, registry: services } = registry(600);
  const web = service("web", clock);
  services.set(web, OLD_TOKEN);
  services.set(web, NEW_TOKEN);

  assert.equal(web.broker.status().state, "starting");
  assert.equal(services.findByToken(NEW_TOKEN), web);
  assert.equal(services.findByToken(OLD_TOKEN), web);
});

test("ServiceRegistry.set() of a new service stops the replaced broker", () => {
  const { clock, registry: services } = registry(600);
  const web = service("web", clock);
  services.set(web, OLD_TOKEN);
  services.set(service("web", clock), NEW_TOKEN);
  assert.equal(web.broker.status().state, "stopped");
});

test("ServiceRegistry.setTokenOverlap() of 0 ends every overlap", () => {
  const { clock, registry: services } = registry(600);
  services.set(service("web", clock), OLD_TOKEN);
  services.set(service("web", clock), NEW_TOKEN);
  assert.equal(services.findByToken(OLD_TOKEN)?.name, "web");
  services.setTokenOverlap(0);
  assert.equal(services.findByToken(OLD_TOKEN), undefined);
  assert.equal(services.findByToken(NEW_TOKEN)?.name, "web");
});

test("ServiceRegistry overlap ends when another origin takes the name", () => {
  const { clock, registry: services } = registry(600);
  services.set(service("web", clock), OLD_TOKEN);
  services.set({ ...service("web", clock), origin: "/etc/credproxy.d/web.yaml" }, NEW_TOKEN);
  assert.equal(services.findByToken(OLD_TOKEN), undefined);
  assert.equal(services.overlapHolder(OLD_TOKEN), undefined);
});

test("ServiceRegistry.overlapHolder() names the service of a replaced token", () => {
  const { clock, registry: services } = registry(600);
  services.set(service("web", clock), OLD_TOKEN);
  services.set(service("web", clock), NEW_TOKEN);
  assert.deepEqual(services.overlapHolder(OLD_TOKEN), { name: "web", origin: "config" });
  assert.equal(services.overlapHolder(NEW_TOKEN), undefined);
});
