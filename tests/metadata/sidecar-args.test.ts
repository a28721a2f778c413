import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSidecarArgs } from "../../src/cli/sidecar.ts";
import { parseCommandLine } from "../../src/cli/parse.ts";

test("parseSidecarArgs() fills defaults around --upstream", () => {
  assert.deepEqual(parseSidecarArgs(["--upstream", "http://credproxy:1338"], {}), {
    upstreamUrl: "http://credproxy:1338/",
    listen: [{ host: "169.254.170.2", port: 80 }, { host: "127.0.0.1", port: 80 }],
    credentialPaths: [],
    timeoutMs: 2000,
    addAddresses: true,
    allowNonLoopbackPeers: false,
    logLevel: "info",
    dev: false,
  });
});

test("parseSidecarArgs() reads every option and the environment", () => {
  const args = parseSidecarArgs([
    "--listen", "169.254.170.23:80",
    "--listen", "[fd00:ec2::23]:80",
    "--credentials-path", "/creds",
    "--timeout", "0.5",
    "--no-add-addresses",
    "--allow-non-loopback-peers",
    "--ip", "/bin/busybox",
    "--dev",
  ], { CREDPROXY_UPSTREAM_URL: "http://10.0.0.1:1338", CREDPROXY_LOG_LEVEL: "warn" });

  assert.deepEqual(args, {
    upstreamUrl: "http://10.0.0.1:1338/",
    listen: [{ host: "169.254.170.23", port: 80 }, { host: "fd00:ec2::23", port: 80 }],
    credentialPaths: ["/creds"],
    timeoutMs: 500,
    addAddresses: false,
    allowNonLoopbackPeers: true,
    ipPath: "/bin/busybox",
    logLevel: "warning",
    dev: true,
  });
});

test("parseSidecarArgs() rejects a missing upstream and bad values", () => {
  const cases: [string[], RegExp][] = [
    [[], /Missing --upstream: pass the CredProxy API URL/],
    [["--upstream", "ftp://x"], /Invalid upstream URL "ftp:\/\/x"/],
    [["--upstream", "http://x", "--listen", "0.0.0.0:80"], /wildcard/],
    [["--upstream", "http://x", "--timeout", "0"], /Invalid --timeout "0"/],
    [["--upstream", "http://x", "--credentials-path", "creds"], /Invalid --credentials-path "creds"/],
    [["--upstream", "http://x", "--port", "80"], /Unknown option '--port'/],
    [["--upstream", "http://x", "extra"], /Unexpected argument 'extra'/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseSidecarArgs(argv, {}), message, argv.join(" "));
  }
});

test("parseCommandLine() hands sidecar arguments over and reads serve --metadata", () => {
  assert.deepEqual(parseCommandLine(["sidecar", "--upstream", "http://x"], {}), { kind: "sidecar", args: ["--upstream", "http://x"] });
  const serve = parseCommandLine(["serve", "--metadata", "--config", "a.yaml"], {});
  assert.equal(serve.kind === "serve" && serve.metadata, true);
  assert.throws(() => parseCommandLine(["--dev", "sidecar"], {}), /put them after it/);
});
