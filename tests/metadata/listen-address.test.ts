import assert from "node:assert/strict";
import { test } from "node:test";
import { isMetadataAddress, parseListenAddress } from "../../src/metadata/listen-address.ts";

test("parseListenAddress() reads IPv4 and bracketed IPv6 with ports", () => {
  assert.deepEqual(parseListenAddress("169.254.170.2:80"), { host: "169.254.170.2", port: 80 });
  assert.deepEqual(parseListenAddress("[FD00:EC2::23]:8080"), { host: "fd00:ec2::23", port: 8080 });
});

test("parseListenAddress() defaults the port to 80", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1"), { host: "127.0.0.1", port: 80 });
  assert.deepEqual(parseListenAddress("fd00:ec2::23"), { host: "fd00:ec2::23", port: 80 });
  assert.deepEqual(parseListenAddress("[::1]"), { host: "::1", port: 80 });
});

test("parseListenAddress() rejects wildcards, names and bad ports", () => {
  assert.throws(() => parseListenAddress("0.0.0.0:80"), /"0\.0\.0\.0:80": a wildcard address/);
  assert.throws(() => parseListenAddress("[::]:80"), /wildcard/);
  assert.throws(() => parseListenAddress("localhost:80"), /"localhost:80": the host must be an IPv4 or IPv6 literal/);
  assert.throws(() => parseListenAddress("127.0.0.1:0"), /the port must be from 1 to 65535/);
  assert.throws(() => parseListenAddress("127.0.0.1:70000"), /the port must be from 1 to 65535/);
  assert.throws(() => parseListenAddress("127.0.0.1:http"), /expected HOST:PORT/);
});

test("isMetadataAddress() admits only link-local IPv4 and the EKS IPv6 address", () => {
  assert.deepEqual(
    ["169.254.170.2", "169.254.170.23", "fd00:ec2:0::23", "127.0.0.1", "::1", "10.0.0.5", "fd00:ec2::24", "169.254.169.254", "fd00:ec2::254"]
      .map(isMetadataAddress),
    [true, true, true, false, false, false, false, false, false],
  );
});

test("parseListenAddress() refuses the instance metadata address", () => {
  assert.throws(() => parseListenAddress("169.254.169.254:80"), /EC2 instance metadata address/);
  assert.throws(() => parseListenAddress("[fd00:ec2::254]:80"), /EC2 instance metadata address/);
});
