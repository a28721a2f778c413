// The loopback manager against a real `lo`: each test makes its own network namespace and
// runs every `ip` command inside it (commandPrefix), never in the host's namespace.
import assert from "node:assert/strict";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  createLoopbackManager,
  ECS_ADDRESS,
  EKS_POD_IDENTITY_IPV4_ADDRESS,
  EKS_POD_IDENTITY_IPV6_ADDRESS,
  findIpBinary,
  LoopbackError,
  type LoopbackManagerOptions,
} from "../../src/loopback/mod.ts";
import { NetworkNamespace } from "../support/netns.ts";

/** Reads `lo`'s addresses as `ADDRESS/PREFIX` with iproute2, independently of the manager. */
async function loAddresses(ns: NetworkNamespace): Promise<string[]> {
  const result = await ns.exec(["ip", "-j", "addr", "show", "dev", "lo"]);
  const [link] = JSON.parse(result.stdout) as {
    addr_info: { local: string; prefixlen: number }[];
  }[];
  return link.addr_info.map((info) => `${info.local}/${info.prefixlen}`).sort();
}

function inside(
  ns: NetworkNamespace,
  options: LoopbackManagerOptions = {},
): LoopbackManagerOptions {
  return { commandPrefix: ns.execPrefix, ...options };
}

/** Creates a link named `ip` to BusyBox, the way a minimal image would carry it. */
async function busyboxIp(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), "credproxy-busybox-"));
  const path = join(dir, "ip");
  await symlink("/bin/busybox", path);
  return { path, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

function isLoopbackError(kind: LoopbackError["kind"], ...fragments: string[]) {
  return (error: unknown) => {
    assert.ok(error instanceof LoopbackError, `expected a LoopbackError, got ${error}`);
    assert.equal(error.kind, kind);
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `"${error.message}" lacks ${fragment}`);
    }
    return true;
  };
}

describe("LoopbackManager", () => {
  test("add() twice adds the /32 once", async () => {
    await using ns = await NetworkNamespace.create("add-twice");
    const before = await loAddresses(ns);
    const loopback = await createLoopbackManager(inside(ns));

    const first = await loopback.add([ECS_ADDRESS]);
    const second = await loopback.add([ECS_ADDRESS]);

    assert.deepEqual(first.addresses, [
      { address: ECS_ADDRESS, cidr: "169.254.170.2/32", family: "inet", outcome: "added" },
    ]);
    assert.deepEqual(second.addresses, [
      {
        address: ECS_ADDRESS,
        cidr: "169.254.170.2/32",
        family: "inet",
        outcome: "already-present",
      },
    ]);
    assert.deepEqual(second.commands, []);
    assert.deepEqual(await loAddresses(ns), [...before, "169.254.170.2/32"].sort());
    assert.deepEqual(loopback.added.map((host) => host.cidr), ["169.254.170.2/32"]);
  });

  test("removeAdded() removes added addresses", async () => {
    await using ns = await NetworkNamespace.create("remove-added");
    const before = await loAddresses(ns);
    const loopback = await createLoopbackManager(inside(ns));
    await loopback.add([ECS_ADDRESS, EKS_POD_IDENTITY_IPV4_ADDRESS]);

    const removed = await loopback.removeAdded();

    assert.deepEqual(removed.addresses.map((entry) => [entry.cidr, entry.outcome]), [
      ["169.254.170.23/32", "removed"],
      ["169.254.170.2/32", "removed"],
    ]);
    assert.deepEqual(await loAddresses(ns), before);
    assert.deepEqual(loopback.added, []);
  });

  test("await using removes added addresses", async () => {
    await using ns = await NetworkNamespace.create("dispose");
    const before = await loAddresses(ns);
    {
      await using loopback = await createLoopbackManager(inside(ns));
      await loopback.add([ECS_ADDRESS]);
      assert.ok((await loAddresses(ns)).includes("169.254.170.2/32"));
    }
    assert.deepEqual(await loAddresses(ns), before);
  });

  test("removeAdded() keeps pre-existing address", async () => {
    await using ns = await NetworkNamespace.create("pre-existing");
    await ns.exec(["ip", "addr", "add", "169.254.170.2/32", "dev", "lo"]);
    const before = await loAddresses(ns);
    const loopback = await createLoopbackManager(inside(ns));

    const added = await loopback.add([ECS_ADDRESS]);
    const removed = await loopback.removeAdded();

    assert.equal(added.addresses[0].outcome, "already-present");
    assert.deepEqual(removed, { addresses: [], commands: [], warnings: [], dryRun: false });
    assert.deepEqual(await loAddresses(ns), before);
    assert.ok(before.includes("169.254.170.2/32"));
  });

  test("add() losing a race reports already-present", async () => {
    await using ns = await NetworkNamespace.create("race");
    // Runs every `ip addr add` once beforehand, as another process would between the
    // manager's read of lo and its own add.
    const racing = [
      ...ns.execPrefix,
      "sh",
      "-c",
      'case " $* " in *" addr add "*) "$@" >/dev/null 2>&1 ;; esac; exec "$@"',
      "race",
    ];
    const loopback = await createLoopbackManager({ commandPrefix: racing });

    const added = await loopback.add([ECS_ADDRESS]);
    await loopback.removeAdded();

    assert.deepEqual(added.addresses.map((entry) => entry.outcome), ["already-present"]);
    assert.equal(added.commands.length, 1, "the add was tried");
    assert.deepEqual(loopback.added, []);
    assert.ok((await loAddresses(ns)).includes("169.254.170.2/32"));
  });

  test("add() counts wider prefix as present", async () => {
    await using ns = await NetworkNamespace.create("wider-prefix");
    await ns.exec(["ip", "addr", "add", "169.254.170.2/24", "dev", "lo"]);
    const before = await loAddresses(ns);
    const loopback = await createLoopbackManager(inside(ns));

    const added = await loopback.add([ECS_ADDRESS]);

    assert.equal(added.addresses[0].outcome, "already-present");
    assert.deepEqual(await loAddresses(ns), before);
  });

  test("remove() removes addresses it did not add", async () => {
    await using ns = await NetworkNamespace.create("remove");
    const before = await loAddresses(ns);
    await ns.exec(["ip", "addr", "add", "169.254.170.2/32", "dev", "lo"]);
    const loopback = await createLoopbackManager(inside(ns));

    const removed = await loopback.remove([ECS_ADDRESS, EKS_POD_IDENTITY_IPV4_ADDRESS]);

    assert.deepEqual(removed.addresses.map((entry) => [entry.cidr, entry.outcome]), [
      ["169.254.170.2/32", "removed"],
      ["169.254.170.23/32", "absent"],
    ]);
    assert.deepEqual(await loAddresses(ns), before);
  });

  test("status() reports state and owner", async () => {
    await using ns = await NetworkNamespace.create("status");
    await ns.exec(["ip", "addr", "add", "169.254.170.23/32", "dev", "lo"]);
    const loopback = await createLoopbackManager(inside(ns));
    await loopback.add([ECS_ADDRESS]);

    const statuses = await loopback.status([
      ECS_ADDRESS,
      EKS_POD_IDENTITY_IPV4_ADDRESS,
      EKS_POD_IDENTITY_IPV6_ADDRESS,
    ]);

    assert.deepEqual(statuses, [
      {
        address: "169.254.170.2",
        cidr: "169.254.170.2/32",
        family: "inet",
        state: "present",
        prefixLengths: [32],
        addedByManager: true,
      },
      {
        address: "169.254.170.23",
        cidr: "169.254.170.23/32",
        family: "inet",
        state: "present",
        prefixLengths: [32],
        addedByManager: false,
      },
      {
        address: "fd00:ec2::23",
        cidr: "fd00:ec2::23/128",
        family: "inet6",
        state: "absent",
        prefixLengths: [],
        addedByManager: false,
      },
    ]);
  });

  test("add() adds IPv6 as /128, any spelling", async () => {
    await using ns = await NetworkNamespace.create("ipv6");
    const before = await loAddresses(ns);
    const loopback = await createLoopbackManager(inside(ns));

    const first = await loopback.add([EKS_POD_IDENTITY_IPV6_ADDRESS]);
    const second = await loopback.add(["FD00:0EC2:0:0:0:0:0:0023"]);

    assert.deepEqual(first.addresses, [
      { address: "fd00:ec2::23", cidr: "fd00:ec2::23/128", family: "inet6", outcome: "added" },
    ]);
    assert.equal(second.addresses[0].outcome, "already-present");
    assert.deepEqual(await loAddresses(ns), [...before, "fd00:ec2::23/128"].sort());
    await loopback.removeAdded();
    assert.deepEqual(await loAddresses(ns), before);
  });

  test("add() skips IPv6 where disabled", async () => {
    await using ns = await NetworkNamespace.create("ipv6-off");
    for (const scope of ["all", "default", "lo"]) {
      await ns.exec(["sysctl", "-q", "-w", `net.ipv6.conf.${scope}.disable_ipv6=1`]);
    }
    const records: LogRecord[] = [];
    await configure({
      sinks: { buffer: (record) => records.push(record) },
      loggers: [
        { category: ["credproxy", "loopback"], lowestLevel: "warning", sinks: ["buffer"] },
        { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
      ],
      reset: true,
    });
    try {
      const loopback = await createLoopbackManager(inside(ns));

      const result = await loopback.add([EKS_POD_IDENTITY_IPV6_ADDRESS, ECS_ADDRESS]);

      const warning =
        'Skipped "fd00:ec2::23/128": IPv6 is disabled on lo; IPv4 addresses are still added';
      assert.deepEqual(result.addresses, [
        {
          address: "fd00:ec2::23",
          cidr: "fd00:ec2::23/128",
          family: "inet6",
          outcome: "skipped-ipv6-disabled",
          warning,
        },
        { address: ECS_ADDRESS, cidr: "169.254.170.2/32", family: "inet", outcome: "added" },
      ]);
      assert.deepEqual(result.warnings, [warning]);
      assert.ok((await loAddresses(ns)).includes("169.254.170.2/32"));
      assert.deepEqual(
        records.map((record) => [record.level, record.category, record.properties]),
        [["warning", ["credproxy", "loopback"], { cidr: "fd00:ec2::23/128", device: "lo" }]],
      );
      assert.equal(
        (await loopback.status([EKS_POD_IDENTITY_IPV6_ADDRESS]))[0].state,
        "ipv6-disabled",
      );
    } finally {
      await reset();
    }
  });

  test("add() skips rejected IPv6 without cat", async () => {
    await using ns = await NetworkNamespace.create("ipv6-refused");
    await using busybox = await busyboxIp();
    await ns.exec(["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"]);
    await ns.exec(["sysctl", "-q", "-w", "net.ipv6.conf.lo.disable_ipv6=1"]);
    // With no PATH, `cat` cannot start, so only ip's rejection and lo's addresses show that
    // IPv6 is off.
    const noPath = [...ns.execPrefix, "env", "PATH=/nonexistent"];
    // iproute2 prints "IPv6 is disabled on this device" and BusyBox "Permission denied".
    for (const ipPath of ["/usr/sbin/ip", busybox.path]) {
      const loopback = await createLoopbackManager({ commandPrefix: noPath, ipPath });

      const result = await loopback.add([
        EKS_POD_IDENTITY_IPV6_ADDRESS,
        EKS_POD_IDENTITY_IPV4_ADDRESS,
      ]);

      assert.deepEqual(result.addresses.map((entry) => [entry.cidr, entry.outcome]), [
        ["fd00:ec2::23/128", "skipped-ipv6-disabled"],
        ["169.254.170.23/32", "added"],
      ], ipPath);
      assert.equal(result.commands.length, 2, "the IPv6 add was tried");
      await loopback.removeAdded();
    }
  });

  test("add() without CAP_NET_ADMIN fails", async () => {
    await using ns = await NetworkNamespace.create("no-cap");
    const before = await loAddresses(ns);
    // As root, dropping net_admin from the bounding set removes it from the exec'd ip.
    const withoutNetAdmin = [
      ...ns.execPrefix,
      "setpriv",
      "--inh-caps=-all",
      "--bounding-set=-net_admin",
    ];
    const loopback = await createLoopbackManager({ commandPrefix: withoutNetAdmin });

    await assert.rejects(
      loopback.add([ECS_ADDRESS]),
      isLoopbackError(
        "permission-denied",
        '"169.254.170.2/32"',
        "CAP_NET_ADMIN",
        "--cap-add NET_ADMIN",
      ),
    );
    assert.deepEqual(await loAddresses(ns), before);
    assert.deepEqual(loopback.added, []);
  });

  test("createLoopbackManager() rejects missing ip", async () => {
    await using ns = await NetworkNamespace.create("no-ip");

    await assert.rejects(
      createLoopbackManager(inside(ns, { ipPath: "/nonexistent/sbin/ip" })),
      isLoopbackError("ip-missing", '"/nonexistent/sbin/ip"', "iproute2", "BusyBox"),
    );
  });

  test("findIpBinary() fallbacks and missing ip", async () => {
    const empty = await mkdtemp(join(tmpdir(), "credproxy-empty-"));
    try {
      await assert.rejects(
        findIpBinary({ pathEnv: empty, candidates: [join(empty, "ip")] }),
        isLoopbackError("ip-missing", "not on PATH", "iproute2", "BusyBox"),
      );
      assert.equal(
        await findIpBinary({ pathEnv: empty, candidates: [join(empty, "ip"), "/usr/sbin/ip"] }),
        "/usr/sbin/ip",
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  test("add() rejects invalid address first", async () => {
    await using ns = await NetworkNamespace.create("invalid");
    const before = await loAddresses(ns);
    const loopback = await createLoopbackManager(inside(ns));

    await assert.rejects(
      loopback.add([ECS_ADDRESS, "169.254.170.256"]),
      isLoopbackError("invalid-address", '"169.254.170.256"'),
    );
    assert.deepEqual(await loAddresses(ns), before);
  });

  test("dry run returns commands only", async () => {
    await using ns = await NetworkNamespace.create("dry-run");
    await ns.exec(["ip", "addr", "add", "169.254.170.23/32", "dev", "lo"]);
    const before = await loAddresses(ns);
    const loopback = await createLoopbackManager(
      inside(ns, { dryRun: true, ipPath: "/usr/sbin/ip" }),
    );

    const added = await loopback.add([ECS_ADDRESS, EKS_POD_IDENTITY_IPV4_ADDRESS]);
    const removed = await loopback.remove([EKS_POD_IDENTITY_IPV4_ADDRESS]);

    assert.deepEqual(added.commands, [
      [...ns.execPrefix, "/usr/sbin/ip", "addr", "add", "169.254.170.2/32", "dev", "lo"],
    ]);
    assert.deepEqual(added.addresses.map((entry) => entry.outcome), [
      "would-add",
      "already-present",
    ]);
    assert.deepEqual(removed.commands, [
      [...ns.execPrefix, "/usr/sbin/ip", "addr", "del", "169.254.170.23/32", "dev", "lo"],
    ]);
    assert.deepEqual(loopback.added, []);
    assert.deepEqual(await loAddresses(ns), before);
  });

  test("BusyBox ip works through ip -o", async () => {
    await using ns = await NetworkNamespace.create("busybox");
    await using ip = await busyboxIp();
    const before = await loAddresses(ns);
    const loopback = await createLoopbackManager(inside(ns, { ipPath: ip.path }));

    await loopback.add([ECS_ADDRESS, EKS_POD_IDENTITY_IPV6_ADDRESS]);
    const again = await loopback.add([ECS_ADDRESS, EKS_POD_IDENTITY_IPV6_ADDRESS]);
    const statuses = await loopback.status([ECS_ADDRESS, EKS_POD_IDENTITY_IPV6_ADDRESS, "::1"]);

    assert.equal(loopback.flavor, "busybox");
    assert.deepEqual(again.addresses.map((entry) => entry.outcome), [
      "already-present",
      "already-present",
    ]);
    assert.deepEqual(
      await loAddresses(ns),
      [...before, "169.254.170.2/32", "fd00:ec2::23/128"].sort(),
    );
    assert.deepEqual(
      statuses.map((status) => [status.address, status.state, status.prefixLengths]),
      [
        ["169.254.170.2", "present", [32]],
        ["fd00:ec2::23", "present", [128]],
        ["::1", "present", [128]],
      ],
    );
    await loopback.removeAdded();
    assert.deepEqual(await loAddresses(ns), before);
  });

  test("busybox binary works as ipPath", async () => {
    await using ns = await NetworkNamespace.create("busybox-bin");
    const loopback = await createLoopbackManager(
      inside(ns, { ipPath: "/bin/busybox", dryRun: true }),
    );

    const added = await loopback.add([ECS_ADDRESS]);

    assert.equal(loopback.flavor, "busybox");
    assert.deepEqual(added.commands, [
      [...ns.execPrefix, "/bin/busybox", "ip", "addr", "add", "169.254.170.2/32", "dev", "lo"],
    ]);
  });
});
