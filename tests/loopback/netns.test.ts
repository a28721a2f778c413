// The shared test helper itself: other suites rely on it to keep the host untouched.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import $ from "dax";
import { NetworkNamespace } from "../support/netns.ts";

async function namespaces(): Promise<string[]> {
  const listed = await $`ip netns list`.stdout("piped").stderr("piped");
  return listed.stdout.split("\n").map((line) => line.split(" ")[0]).filter(Boolean);
}

describe("NetworkNamespace", () => {
  test("NetworkNamespace.create() makes a uniquely named namespace with lo up", async () => {
    await using first = await NetworkNamespace.create("helper");
    await using second = await NetworkNamespace.create("helper");

    const link = await first.exec(["ip", "-j", "link", "show", "dev", "lo"]);

    assert.match(first.name, /^credproxy-helper-[0-9a-f]{8}$/);
    assert.notEqual(first.name, second.name);
    assert.ok(JSON.parse(link.stdout)[0].flags.includes("UP"));
    assert.ok((await namespaces()).includes(first.name));
  });

  test("NetworkNamespace.exec() runs inside the namespace, with the given environment", async () => {
    await using ns = await NetworkNamespace.create("helper-exec");
    await ns.exec(["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    const host = await $`ip -j addr show dev lo`.stdout("piped");

    const env = await ns.exec(["sh", "-c", 'echo "$GREETING"'], { env: { GREETING: "hello" } });
    const failed = await ns.exec(["sh", "-c", "exit 3"], { noThrow: true });

    assert.equal(env.stdout, "hello\n");
    assert.equal(failed.code, 3);
    assert.ok(
      (await ns.exec(["ip", "-j", "addr", "show", "dev", "lo"])).stdout.includes("192.0.2.1"),
    );
    assert.ok(!host.stdout.includes("192.0.2.1"), "the host's lo is untouched");
  });

  test("NetworkNamespace.delete() stops spawned children and removes the namespace", async () => {
    const ns = await NetworkNamespace.create("helper-delete");
    const child = ns.spawn(["sleep", "300"], { stdout: "null" });

    await ns.delete();
    await ns.delete();

    assert.notEqual((await child).code, 0);
    assert.ok(!(await namespaces()).includes(ns.name));
    await assert.rejects(ns.exec(["true"]), /was deleted/);
  });

  test("NetworkNamespace is deleted when an await using scope throws", async () => {
    let name = "";
    await assert.rejects(async () => {
      await using ns = await NetworkNamespace.create("helper-throw");
      name = ns.name;
      throw new Error("test body failed");
    }, /test body failed/);

    assert.ok(!(await namespaces()).includes(name));
  });
});
