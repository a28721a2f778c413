import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  LOOPBACK_USAGE,
  type LoopbackArgs,
  parseLoopbackArgs,
  runLoopbackCli,
  runLoopbackCommand,
  UsageError,
} from "../../src/loopback/mod.ts";
import { NetworkNamespace } from "../support/netns.ts";

function capture(commandPrefix?: readonly string[]) {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      stdout: (text: string) => void (out.stdout += text),
      stderr: (text: string) => void (out.stderr += text),
      ...(commandPrefix ? { commandPrefix } : {}),
    },
  };
}

async function hasAddress(ns: NetworkNamespace, cidr: string): Promise<boolean> {
  const result = await ns.exec(["ip", "-j", "addr", "show", "dev", "lo"]);
  const [link] = JSON.parse(result.stdout) as {
    addr_info: { local: string; prefixlen: number }[];
  }[];
  return link.addr_info.some((info) => `${info.local}/${info.prefixlen}` === cidr);
}

describe("parseLoopbackArgs()", () => {
  test("parseLoopbackArgs() defaults to the ECS address", () => {
    assert.deepEqual(parseLoopbackArgs(["add"]), {
      action: "add",
      addresses: ["169.254.170.2"],
      dryRun: false,
    });
  });

  test("parseLoopbackArgs() reads addresses, --dry-run and --ip in any order", () => {
    assert.deepEqual(
      parseLoopbackArgs([
        "remove",
        "--dry-run",
        "FD00:0EC2::23",
        "--ip",
        "/bin/busybox",
        "169.254.170.23",
      ]),
      {
        action: "remove",
        addresses: ["fd00:ec2::23", "169.254.170.23"],
        dryRun: true,
        ipPath: "/bin/busybox",
      } satisfies LoopbackArgs,
    );
  });

  for (
    const [argv, fragment] of [
      [["add", "--bogus"], "--bogus"],
      [[], "Missing action"],
      [["flush"], '"flush"'],
      [["add", "169.254.170.300"], '"169.254.170.300"'],
      [["add", "10.0.0.0/8"], '"10.0.0.0/8"'],
      [["status", "--dry-run"], "--dry-run"],
      [["add", "--ip"], "--ip"],
      [["add", "--ip="], "--ip"],
    ] as const
  ) {
    test(`parseLoopbackArgs() rejects ${JSON.stringify(argv)} with a UsageError`, () => {
      assert.throws(() => parseLoopbackArgs([...argv]), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.ok(error.message.includes(fragment), `"${error.message}" lacks ${fragment}`);
        return true;
      });
    });
  }
});

describe("runLoopbackCommand()", () => {
  test("runLoopbackCommand() status prints a table and exits 1 while an address is absent", async () => {
    await using ns = await NetworkNamespace.create("cli-status");
    await ns.exec(["ip", "addr", "add", "169.254.170.23/32", "dev", "lo"]);
    const { out, io } = capture(ns.execPrefix);

    const code = await runLoopbackCommand(
      parseLoopbackArgs(["status", "169.254.170.2", "169.254.170.23", "::1"]),
      io,
    );

    assert.deepEqual({ code, ...out }, {
      code: 1,
      stdout: [
        "ADDRESS         STATE    PREFIX",
        "169.254.170.2   absent   -",
        "169.254.170.23  present  /32",
        "::1             present  /128",
        "",
      ].join("\n"),
      stderr: "",
    });
  });

  test("runLoopbackCommand() add then status exits 0 with the address present", async () => {
    await using ns = await NetworkNamespace.create("cli-add");
    const added = capture(ns.execPrefix);
    const status = capture(ns.execPrefix);

    const addCode = await runLoopbackCommand(parseLoopbackArgs(["add"]), added.io);
    const statusCode = await runLoopbackCommand(parseLoopbackArgs(["status"]), status.io);

    assert.deepEqual({ code: addCode, ...added.out }, {
      code: 0,
      stdout: "added 169.254.170.2/32 to lo\n",
      stderr: "",
    });
    assert.deepEqual({ code: statusCode, ...status.out }, {
      code: 0,
      stdout: "ADDRESS        STATE    PREFIX\n169.254.170.2  present  /32\n",
      stderr: "",
    });
  });

  test("runLoopbackCommand() remove takes away an address another process added", async () => {
    await using ns = await NetworkNamespace.create("cli-remove");
    await ns.exec(["ip", "addr", "add", "169.254.170.2/32", "dev", "lo"]);
    const { out, io } = capture(ns.execPrefix);

    const code = await runLoopbackCommand(
      parseLoopbackArgs(["remove", "169.254.170.2", "fd00:ec2::23"]),
      io,
    );

    assert.deepEqual({ code, ...out }, {
      code: 0,
      stdout: "removed 169.254.170.2/32 from lo\nfd00:ec2::23/128 not on lo, nothing to remove\n",
      stderr: "",
    });
    assert.equal(await hasAddress(ns, "169.254.170.2/32"), false);
  });

  test("runLoopbackCommand() add --dry-run prints the ip command and changes nothing", async () => {
    await using ns = await NetworkNamespace.create("cli-dry-run");
    const { out, io } = capture(ns.execPrefix);

    const code = await runLoopbackCommand(
      parseLoopbackArgs(["add", "--dry-run", "--ip", "/usr/sbin/ip"]),
      io,
    );

    assert.deepEqual({ code, ...out }, {
      code: 0,
      stdout: `would run: ${
        ns.execPrefix.join(" ")
      } /usr/sbin/ip addr add 169.254.170.2/32 dev lo\n`,
      stderr: "",
    });
    assert.equal(await hasAddress(ns, "169.254.170.2/32"), false);
  });

  test("runLoopbackCommand() add without CAP_NET_ADMIN exits 1 naming the fix", async () => {
    await using ns = await NetworkNamespace.create("cli-no-cap");
    const { out, io } = capture([...ns.execPrefix, "setpriv", "--bounding-set=-net_admin"]);

    const code = await runLoopbackCommand(parseLoopbackArgs(["add"]), io);

    assert.equal(code, 1);
    assert.equal(out.stdout, "");
    assert.match(
      out.stderr,
      /^Cannot add "169\.254\.170\.2\/32" to lo: operation not permitted .*--cap-add NET_ADMIN/,
    );
  });

  test("runLoopbackCommand() with a missing ip exits 1 saying what to install", async () => {
    const { out, io } = capture();

    const code = await runLoopbackCommand(
      parseLoopbackArgs(["status", "--ip", "/nonexistent/ip"]),
      io,
    );

    assert.equal(code, 1);
    assert.match(out.stderr, /^Cannot run "\/nonexistent\/ip": .*iproute2.*BusyBox/);
  });

  test("runLoopbackCli() prints the usage and exits 2 on a bad flag", async () => {
    const { out, io } = capture();

    const code = await runLoopbackCli(["add", "--force"], io);

    assert.equal(code, 2);
    assert.equal(out.stdout, "");
    assert.ok(out.stderr.includes("--force"));
    assert.ok(out.stderr.endsWith(`${LOOPBACK_USAGE}\n`));
  });

  test("parseLoopbackArgs() refuses non-metadata addresses", () => {
    for (const address of ["169.254.169.254", "fd00:ec2::254", "10.0.0.1", "127.0.0.2"]) {
      for (const action of ["add", "remove"]) {
        assert.throws(() => parseLoopbackArgs([action, address]), (error: unknown) => {
          assert.ok(error instanceof UsageError);
          assert.match(error.message, new RegExp(`^Refusing to ${action} "${address}": only container metadata addresses`));
          return true;
        });
      }
    }
    assert.deepEqual(parseLoopbackArgs(["status", "127.0.0.1"]).addresses, ["127.0.0.1"]);
    assert.deepEqual(parseLoopbackArgs(["add", "169.254.170.23", "fd00:ec2::23"]).addresses, ["169.254.170.23", "fd00:ec2::23"]);
  });

  test("runLoopbackCli() prints the usage for --help", async () => {
    const { out, io } = capture();

    const code = await runLoopbackCli(["--help"], io);

    assert.equal(code, 0);
    assert.equal(out.stdout, `${LOOPBACK_USAGE}\n`);
    assert.equal(out.stderr, "");
  });
});
