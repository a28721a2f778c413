import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { addressKey } from "../../src/loopback/address.ts";
import { LoopbackError, parseHostAddress } from "../../src/loopback/mod.ts";

describe("parseHostAddress()", () => {
  test("parseHostAddress() reads IPv4 as a /32", () => {
    assert.deepEqual(parseHostAddress("169.254.170.2"), {
      address: "169.254.170.2",
      family: "inet",
      prefixLength: 32,
      cidr: "169.254.170.2/32",
    });
  });

  test("parseHostAddress() reads IPv6 as a /128 in RFC 5952 form", () => {
    assert.deepEqual(parseHostAddress("FD00:0EC2:0000:0:0:0:0:0023/128"), {
      address: "fd00:ec2::23",
      family: "inet6",
      prefixLength: 128,
      cidr: "fd00:ec2::23/128",
    });
  });

  for (
    const [input, expected] of [
      ["::1", "::1"],
      ["::", "::"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
      ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["::ffff:169.254.170.2", "::ffff:a9fe:aa02"],
      ["169.254.170.23/32", "169.254.170.23"],
    ]
  ) {
    test(`parseHostAddress() canonicalises ${input} as ${expected}`, () => {
      assert.equal(parseHostAddress(input).address, expected);
    });
  }

  for (
    const value of [
      "",
      "169.254.170",
      "169.254.170.256",
      "169.254.170.02",
      "169.254.170.2/24",
      "fd00:ec2::23/64",
      "fd00::ec2::23",
      "fe80::1%lo",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "localhost",
      " 169.254.170.2",
    ]
  ) {
    test(`parseHostAddress() rejects ${JSON.stringify(value)}, naming it`, () => {
      assert.throws(() => parseHostAddress(value), (error: unknown) => {
        assert.ok(error instanceof LoopbackError);
        assert.equal(error.kind, "invalid-address");
        assert.ok(error.message.startsWith(`Invalid loopback address "${value}": `), error.message);
        return true;
      });
    });
  }
});

describe("addressKey()", () => {
  test("addressKey() is equal for two spellings of one address and differs across families", () => {
    assert.equal(addressKey("fd00:ec2::23"), addressKey("FD00:0EC2:0:0:0:0:0:23"));
    assert.notEqual(addressKey("::ffff:169.254.170.2"), addressKey("169.254.170.2"));
    assert.equal(addressKey("not an address"), undefined);
  });
});
