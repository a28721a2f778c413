import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCommandLine, UsageError } from "../../src/cli/parse.ts";

test("parseCommandLine() defaults to serve", () => {
  assert.deepEqual(parseCommandLine(["--config", "c.yaml"], {}), {
    kind: "serve",
    common: { configPath: "c.yaml", logLevel: "info", dev: false },
    host: undefined,
    port: undefined,
  });
});

test("parseCommandLine() reads CREDPROXY_ variables", () => {
  const command = parseCommandLine(["serve"], { CREDPROXY_CONFIG_FILE: "/etc/credproxy.yaml", CREDPROXY_LOG_LEVEL: "DEBUG" });
  assert.deepEqual(command, {
    kind: "serve",
    common: { configPath: "/etc/credproxy.yaml", logLevel: "debug", dev: false },
    host: undefined,
    port: undefined,
  });
});

test("parseCommandLine() prefers flags over variables", () => {
  const command = parseCommandLine(["-c", "flag.yaml", "--log-level", "warn", "--dev", "--port", "9000", "--host", "::1"], {
    CREDPROXY_CONFIG_FILE: "env.yaml",
    CREDPROXY_LOG_LEVEL: "error",
  });
  assert.deepEqual(command, {
    kind: "serve",
    common: { configPath: "flag.yaml", logLevel: "warning", dev: true },
    host: "::1",
    port: 9000,
  });
});

test("parseCommandLine() maps --validate-only to validate", () => {
  assert.equal(parseCommandLine(["--validate-only", "-c", "x.yaml"], {}).kind, "validate");
  assert.equal(parseCommandLine(["validate", "-c", "x.yaml"], {}).kind, "validate");
});

test("parseCommandLine() builds the healthcheck URL", () => {
  assert.deepEqual(parseCommandLine(["healthcheck"], {}), { kind: "healthcheck", url: "http://127.0.0.1:1338/health", timeoutMs: 3000 });
  assert.deepEqual(parseCommandLine(["healthcheck"], { CREDPROXY_PORT: "8080" }), {
    kind: "healthcheck",
    url: "http://127.0.0.1:8080/health",
    timeoutMs: 3000,
  });
  assert.deepEqual(parseCommandLine(["healthcheck", "--url", "http://[::1]:1/health", "--timeout", "0.5"], {}), {
    kind: "healthcheck",
    url: "http://[::1]:1/health",
    timeoutMs: 500,
  });
});

test("parseCommandLine() passes loopback arguments through", () => {
  assert.deepEqual(parseCommandLine(["loopback", "add", "--dry-run"], {}), { kind: "loopback", args: ["add", "--dry-run"] });
});

test("parseCommandLine() recognises help, version and schema", () => {
  assert.equal(parseCommandLine(["--help"], {}).kind, "help");
  assert.equal(parseCommandLine(["-h"], {}).kind, "help");
  assert.equal(parseCommandLine(["--version"], {}).kind, "version");
  assert.equal(parseCommandLine(["-V"], {}).kind, "version");
  assert.equal(parseCommandLine(["schema"], {}).kind, "schema");
});

test("parseCommandLine() rejects bad usage with a message", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /Unknown option '--bogus'; run credproxy --help/],
    [["frobnicate"], /Unknown command "frobnicate"/],
    [["serve", "extra"], /Unexpected argument "extra"/],
    [["--port", "70000"], /Invalid --port "70000"/],
    [["--log-level", "loud"], /Invalid log level "loud"/],
    [["healthcheck", "--url", "not a url"], /Invalid --url/],
    [["healthcheck", "--url", "ftp://x/health"], /http or https/],
    [["healthcheck", "--timeout", "0"], /Invalid --timeout/],
    [["--config"], /argument missing|requires an argument|Option '-c, --config <value>'/i],
    [["--dev", "loopback", "status"], /The loopback command takes its own options/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommandLine(argv, {}), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${argv.join(" ")}: ${error}`);
      assert.match(error.message, message, argv.join(" "));
      return true;
    });
  }
});
