/**
 * The Dockerfile copies the compiled binary into gcr.io/distroless/base-debian12, which has
 * glibc and OpenSSL but no other shared library. These tests read the binary's ELF needs
 * and check that the base image provides every one.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { assertBinaryBuilt, BINARY_PATH, BUSYBOX_PATH, skipWithout, skipWithoutBinary } from "./binary.ts";
import { readElfNeeds } from "./elf.ts";

/**
 * Shared objects in gcr.io/distroless/base-debian12 on amd64. The image is static-debian12
 * plus the Debian 12 packages libc6 and libssl3 (base/README.md in
 * GoogleContainerTools/distroless: "glibc, libssl"); the names are the shared objects of
 * libc6 2.36-9+deb12u14 and libssl3 3.0 as `dpkg -L` lists them on Debian 12.
 */
const DISTROLESS_BASE_DEBIAN12_LIBRARIES = new Set([
  // libc6
  "ld-linux-x86-64.so.2",
  "libc.so.6",
  "libm.so.6",
  "libmvec.so.1",
  "libpthread.so.0",
  "libdl.so.2",
  "librt.so.1",
  "libresolv.so.2",
  "libutil.so.1",
  "libanl.so.1",
  "libBrokenLocale.so.1",
  "libnsl.so.1",
  "libnss_compat.so.2",
  "libnss_dns.so.2",
  "libnss_files.so.2",
  "libnss_hesiod.so.2",
  "libthread_db.so.1",
  "libc_malloc_debug.so.0",
  // libssl3
  "libssl.so.3",
  "libcrypto.so.3",
]);

/** glibc version of Debian 12, and so of base-debian12: no symbol version may be newer. */
const DISTROLESS_GLIBC = "2.36";

/** Program interpreter that libc6 installs at this path on amd64, in the image too. */
const DISTROLESS_INTERPRETER = "/lib64/ld-linux-x86-64.so.2";

const IPROUTE2_IP_PATH = "/usr/sbin/ip";

/** Libraries the executable needs that base-debian12 does not have. */
function missingFromDistroless(path: string): string[] {
  return readElfNeeds(path).needed.filter((library) => !DISTROLESS_BASE_DEBIAN12_LIBRARIES.has(library));
}

function compareVersions(left: string, right: string): number {
  const a = left.split(".").map(Number);
  const b = right.split(".").map(Number);
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

test("binary is built for x86-64 with the distroless interpreter", { skip: skipWithoutBinary() }, () => {
  assertBinaryBuilt();
  const needs = readElfNeeds(BINARY_PATH);

  assert.equal(needs.machine, 62, "expected e_machine 62 (x86-64)");
  assert.equal(needs.interpreter, DISTROLESS_INTERPRETER);
});

test("binary needs only libraries of distroless base-debian12", { skip: skipWithoutBinary() }, () => {
  assertBinaryBuilt();

  assert.deepEqual(missingFromDistroless(BINARY_PATH), []);
});

test("binary needs glibc symbol versions no newer than Debian 12's", { skip: skipWithoutBinary() }, () => {
  assertBinaryBuilt();
  const { versions } = readElfNeeds(BINARY_PATH);
  const glibcVersions = Object.values(versions).flat()
    .filter((name) => name.startsWith("GLIBC_") && /^GLIBC_[\d.]+$/.test(name))
    .map((name) => name.slice("GLIBC_".length));

  assert.ok(glibcVersions.length > 0, "expected the binary to require versioned glibc symbols");
  const newer = glibcVersions.filter((version) => compareVersions(version, DISTROLESS_GLIBC) > 0);
  assert.deepEqual(newer, []);
});

test("binary's needed libraries match what ldd resolves", { skip: skipWithoutBinary() }, () => {
  assertBinaryBuilt();
  const ldd = spawnSync("ldd", [BINARY_PATH], { encoding: "utf8" });
  assert.equal(ldd.status, 0, ldd.stderr);
  assert.doesNotMatch(ldd.stdout, /not found/);

  const resolved = ldd.stdout.split("\n")
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((name) => name && !name.startsWith("linux-vdso"))
    .map((name) => name.replace(/^.*\//, ""));
  assert.deepEqual(resolved.sort(), readElfNeeds(BINARY_PATH).needed.sort());
});

test("distroless check rejects iproute2's ip", { skip: skipWithout(IPROUTE2_IP_PATH, "install iproute2") }, () => {
  // The sidecar image carries a static BusyBox as ip because this one would not start there.
  assert.ok(missingFromDistroless(IPROUTE2_IP_PATH).length > 0);
});

test("busybox-static needs no shared library", { skip: skipWithout(BUSYBOX_PATH, "install busybox-static") }, () => {
  const needs = readElfNeeds(BUSYBOX_PATH);

  assert.deepEqual({ interpreter: needs.interpreter, needed: needs.needed }, { interpreter: undefined, needed: [] });
});

test("busybox-static has the ip applet", { skip: skipWithout(BUSYBOX_PATH, "install busybox-static") }, () => {
  const list = spawnSync(BUSYBOX_PATH, ["--list"], { encoding: "utf8" });

  assert.equal(list.status, 0, list.stderr);
  assert.ok(list.stdout.split("\n").includes("ip"), "expected ip in busybox --list");
});
