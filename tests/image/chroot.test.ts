/**
 * Runs the compiled binary inside a chroot laid out like the image: only the binary, the
 * libraries ldd names and a static BusyBox as ip. It checks the image's claims without a
 * container engine: `serve` runs as nonroot, `healthcheck` works, and the sidecar adds its
 * address with BusyBox's ip. Needs root.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { after, before, test } from "node:test";
import { CredProxyProcess, type LaunchTarget, runCli } from "../support/credproxy-process.ts";
import { NetworkNamespace } from "../support/netns.ts";
import { assertBinaryBuilt, BUSYBOX_PATH, skipWithout, skipWithoutBinary } from "./binary.ts";
import { IMAGE_PATH_ENV, IMAGE_PATHS, ImageRoot, NONROOT_ID } from "./image-root.ts";

const TOKEN = "image-test-token-5f3a9c1e";
const METADATA_ADDRESS = "169.254.170.2";

const CONFIG = `server:
  host: 127.0.0.1
services:
  app:
    auth_token: \${fromFile:${IMAGE_PATHS.secrets}/app-token}
    source_credentials:
      local: {}
`;

const skip = skipWithoutBinary() || skipWithout(BUSYBOX_PATH, "install busybox-static");
let root: ImageRoot | undefined;

before(() => {
  if (skip) return;
  assertBinaryBuilt();
  root = ImageRoot.create({ [IMAGE_PATHS.config]: CONFIG, [`${IMAGE_PATHS.secrets}/app-token`]: TOKEN });
});

after(() => root?.remove());

function imageRoot(): ImageRoot {
  if (!root) throw new Error("The image root was not built; see the error of the before() hook");
  return root;
}

/** Launch target that runs the binary inside the image root as `user` (default nonroot). */
function imageTarget(user = NONROOT_ID): LaunchTarget {
  return { name: "image", argv: imageRoot().command([IMAGE_PATHS.binary], user) };
}

function startServe(): Promise<CredProxyProcess> {
  return CredProxyProcess.start({
    config: IMAGE_PATHS.config,
    target: imageTarget(),
    env: { PATH: IMAGE_PATH_ENV, CREDPROXY_PORT: "0" },
    secrets: [TOKEN],
    label: `image-serve-${Date.now()}`,
  });
}

function portOf(url: string): string {
  return new URL(url).port;
}

test("image root runs serve as nonroot", { skip }, async () => {
  const proxy = await startServe();
  try {
    const status = readFileSync(`/proc/${proxy.child.pid}/status`, "utf8");
    const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1].split(/\s+/);

    assert.deepEqual(uids, Array(4).fill(String(NONROOT_ID)));
  } finally {
    await proxy.stop();
  }
});

test("image root serves credentials for a token file", { skip }, async () => {
  const proxy = await startServe();
  try {
    const { status, body } = await proxy.request("/v1/credentials", TOKEN);

    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body).sort(), ["AccessKeyId", "AccountId", "Expiration", "SecretAccessKey", "Token"]);
  } finally {
    await proxy.stop();
  }
});

test("image root healthcheck exits 0 while serve runs", { skip }, async () => {
  const proxy = await startServe();
  try {
    // The same command as the Dockerfile's HEALTHCHECK, whose default URL takes CREDPROXY_PORT.
    const result = await runCli(["healthcheck"], {
      target: imageTarget(),
      env: { PATH: IMAGE_PATH_ENV, CREDPROXY_PORT: portOf(proxy.url) },
    });

    assert.deepEqual({ code: result.code, stdout: result.stdout }, {
      code: 0,
      stdout: `Healthy: http://127.0.0.1:${portOf(proxy.url)}/health\n`,
    });
  } finally {
    await proxy.stop();
  }
});

test("image root healthcheck exits 1 once serve stopped", { skip }, async () => {
  const proxy = await startServe();
  await proxy.stop();

  const result = await runCli(["healthcheck"], {
    target: imageTarget(),
    env: { PATH: IMAGE_PATH_ENV, CREDPROXY_PORT: portOf(proxy.url) },
  });

  assert.equal(result.code, 1);
  assert.match(result.stderr, /^Unhealthy: cannot reach/);
});

test("image root's busybox ip adds an address in a namespace", { skip }, async () => {
  await using namespace = await NetworkNamespace.create("image-ip");
  const ip = (...args: string[]) => namespace.exec(imageRoot().command([IMAGE_PATHS.ip, ...args], 0));

  await ip("addr", "add", `${METADATA_ADDRESS}/32`, "dev", "lo");
  const shown = await ip("-o", "addr", "show", "dev", "lo");

  assert.match(shown.stdout, new RegExp(`inet ${METADATA_ADDRESS.replaceAll(".", "\\.")}/32 `));
});

test("image root sidecar serves credentials on the metadata address", { skip: skip || skipWithout("/usr/bin/curl", "install curl") }, async () => {
  await using namespace = await NetworkNamespace.create("image-sidecar");
  const image = imageRoot();
  const env = { PATH: IMAGE_PATH_ENV };

  // As in the image: serve as nonroot, the sidecar as root for CAP_NET_ADMIN and port 80.
  namespace.spawn(image.command([IMAGE_PATHS.binary, "serve", "--config", IMAGE_PATHS.config]), { env, stdout: "null" });
  const sidecar = spawn(
    namespace.execPrefix[0],
    [...namespace.execPrefix.slice(1), ...image.command([IMAGE_PATHS.binary, "sidecar", "--upstream", "http://127.0.0.1:1338"], 0)],
    { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] },
  );
  let sidecarExit: number | null | undefined;
  const sidecarExited = new Promise<void>((resolve) => sidecar.on("close", (code) => resolve(void (sidecarExit = code))));

  const healthcheck = image.command([IMAGE_PATHS.binary, "healthcheck", "--url", `http://${METADATA_ADDRESS}/health`]);
  let health = await namespace.exec(healthcheck, { env, noThrow: true });
  for (let attempt = 0; health.code !== 0 && sidecarExit === undefined && attempt < 60; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    health = await namespace.exec(healthcheck, { env, noThrow: true });
  }
  assert.equal(health.code, 0, `sidecar never became healthy (exit status ${sidecarExit}): ${health.stderr}`);

  // curl reads the header from a file, so the token is not in its argv.
  const headerFile = image.hostPath("/tmp/authorization");
  writeFileSync(headerFile, `Authorization: ${TOKEN}\n`);
  const fetched = await namespace.exec(["curl", "-sS", "--fail", "-H", `@${headerFile}`, `http://${METADATA_ADDRESS}/v1/credentials`]);
  const credentials = JSON.parse(fetched.stdout);
  assert.equal(typeof credentials.AccessKeyId, "string");
  assert.equal(typeof credentials.Token, "string");

  // NOTE: the exit status is not asserted: after kill(), Deno's node:child_process reports
  // the signal instead of the status the process exited with, and dax reports 128 + signal.
  sidecar.kill("SIGTERM");
  await sidecarExited;
  const shown = await namespace.exec(image.command([IMAGE_PATHS.ip, "-o", "addr", "show", "dev", "lo"], 0));
  assert.doesNotMatch(shown.stdout, new RegExp(`inet ${METADATA_ADDRESS.replaceAll(".", "\\.")}/`), "the sidecar removes the address it added");
});
