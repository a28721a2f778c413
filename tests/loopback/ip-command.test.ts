import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  addAddressArgv,
  classifyIpFailure,
  deleteAddressArgv,
  parseIpJson,
  parseIpOneline,
  showAddressesJsonArgv,
  showAddressesOnelineArgv,
} from "../../src/loopback/ip-command.ts";

const lo = { ipPath: "ip", device: "lo" };

describe("ip argv", () => {
  test("the argv builders name the address with its prefix and the device", () => {
    assert.deepEqual(addAddressArgv(lo, "169.254.170.2/32"), [
      "ip",
      "addr",
      "add",
      "169.254.170.2/32",
      "dev",
      "lo",
    ]);
    assert.deepEqual(deleteAddressArgv(lo, "fd00:ec2::23/128"), [
      "ip",
      "addr",
      "del",
      "fd00:ec2::23/128",
      "dev",
      "lo",
    ]);
    assert.deepEqual(showAddressesJsonArgv(lo), ["ip", "-j", "addr", "show", "dev", "lo"]);
    assert.deepEqual(
      showAddressesOnelineArgv({ ipPath: "/bin/busybox", device: "lo" }),
      ["/bin/busybox", "ip", "-o", "addr", "show", "dev", "lo"],
    );
  });
});

describe("parseIpJson()", () => {
  test("parseIpJson() lists the device's inet and inet6 addresses, skipping partial entries", () => {
    const text = JSON.stringify([{
      ifindex: 1,
      ifname: "lo",
      flags: ["LOOPBACK", "UP", "LOWER_UP"],
      addr_info: [
        { family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host", label: "lo" },
        { family: "inet", local: "169.254.170.2", prefixlen: 32, scope: "global", label: "lo" },
        {},
        { family: "inet6", local: "::1", prefixlen: 128, scope: "host" },
      ],
    }, { ifname: "eth0", addr_info: [{ family: "inet", local: "10.0.0.1", prefixlen: 24 }] }]);

    assert.deepEqual(parseIpJson(text, "lo"), [
      { family: "inet", address: "127.0.0.1", prefixLength: 8 },
      { family: "inet", address: "169.254.170.2", prefixLength: 32 },
      { family: "inet6", address: "::1", prefixLength: 128 },
    ]);
  });

  test("parseIpJson() throws a SyntaxError on text that is not iproute2's JSON", () => {
    assert.throws(() => parseIpJson("1: lo    inet 127.0.0.1/8", "lo"), SyntaxError);
    assert.throws(() => parseIpJson("{}", "lo"), SyntaxError);
  });
});

describe("parseIpOneline()", () => {
  test("parseIpOneline() reads BusyBox's one-line format", () => {
    // As printed by BusyBox v1.35.0 `ip -o addr show dev lo`, plus lines it must ignore.
    const text = [
      "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
      "1: lo    inet 169.254.170.2/32 scope global lo\\       valid_lft forever preferred_lft forever",
      "1: lo    inet6 fd00:ec2::23/128 scope global \\       valid_lft forever preferred_lft forever",
      "1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever",
      "1: lo    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
      "3: eth0@if4    inet 10.0.0.1/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever",
      "",
    ].join("\n");

    assert.deepEqual(parseIpOneline(text, "lo"), [
      { family: "inet", address: "127.0.0.1", prefixLength: 8 },
      { family: "inet", address: "169.254.170.2", prefixLength: 32 },
      { family: "inet6", address: "fd00:ec2::23", prefixLength: 128 },
      { family: "inet6", address: "::1", prefixLength: 128 },
    ]);
  });

  test("parseIpOneline() strips @peer from names and takes a point-to-point prefix after peer", () => {
    const text =
      "5: tun0@NONE    inet 10.8.0.1 peer 10.8.0.2/32 scope global tun0\\       valid_lft forever";

    assert.deepEqual(parseIpOneline(text, "tun0"), [
      { family: "inet", address: "10.8.0.1", prefixLength: 32 },
    ]);
  });
});

describe("classifyIpFailure()", () => {
  // Each stderr below was printed by iproute2 6.1 or BusyBox 1.35 on Linux.
  for (
    const [operation, family, code, stderr, expected] of [
      ["add", "inet", 2, "Error: ipv4: Address already assigned.", "exists"],
      ["add", "inet6", 2, "Error: ipv6: address already assigned.", "exists"],
      ["add", "inet", 2, "ip: RTNETLINK answers: File exists", "exists"],
      ["add", "inet", 2, "RTNETLINK answers: Operation not permitted", "permission-denied"],
      ["del", "inet", 2, "RTNETLINK answers: Operation not permitted", "permission-denied"],
      ["add", "inet6", 2, "Error: ipv6: IPv6 is disabled on this device.", "ipv6-refused"],
      ["add", "inet6", 2, "ip: RTNETLINK answers: Permission denied", "ipv6-refused"],
      ["add", "inet6", 2, "RTNETLINK answers: Cannot assign requested address", "ipv6-refused"],
      ["add", "inet", 2, "ip: RTNETLINK answers: Permission denied", "other"],
      ["del", "inet", 2, "Error: ipv4: Address not found.", "not-found"],
      ["del", "inet6", 2, "Error: ipv6: address not found.", "not-found"],
      ["del", "inet", 2, "ip: RTNETLINK answers: Cannot assign requested address", "not-found"],
      ["add", "inet", 127, "dax: /nonexistent/ip: command not found", "ip-missing"],
      [
        "add",
        "inet",
        1,
        'exec of "/nonexistent/ip" failed: No such file or directory',
        "ip-missing",
      ],
      ["add", "inet", 1, 'Cannot find device "lo0"', "other"],
    ] as const
  ) {
    test(`classifyIpFailure() reads ${operation} ${family} "${stderr}" as ${expected}`, () => {
      assert.equal(classifyIpFailure(operation, family, code, stderr), expected);
    });
  }
});
