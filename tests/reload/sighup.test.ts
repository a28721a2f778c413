import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { CredProxyProcess, launchTargets, runCli, tempDir } from "../support/credproxy-process.ts";

const WEB_TOKEN = "web-token-sighup-0123456789";
const GOOD_TOKEN = "good-token-sighup-0123456789";
const ADDED_TOKEN = "added-token-sighup-0123456789";

function local(token: string): Record<string, unknown> {
  return { auth_token: token, source_credentials: { local: {} } };
}

function mainConfig(dynamicDir: string, services: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { port: 0 },
    services,
    dynamic_services: { enabled: true, reload_interval: 0.1, directories: [{ path: dynamicDir }] },
  };
}

/** Names the readiness view lists. */
async function serviceNames(proxy: CredProxyProcess): Promise<string[]> {
  const { body } = await proxy.request("/ready");
  return body.services.map((service: { name: string }) => service.name).sort();
}

async function waitFor(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const target of launchTargets()) {
  test(`SIGHUP reloads under load without failed requests (${target.name})`, async () => {
    const dir = tempDir();
    const dynamicDir = join(dir, "services.d");
    const configPath = join(dir, "credproxy.yaml");
    const pidFile = join(dir, "credproxy.pid");
    mkdirSync(dynamicDir);
    writeFileSync(join(dynamicDir, "good.yaml"), stringify({ services: { good: local(GOOD_TOKEN) } }));
    writeFileSync(join(dynamicDir, "bad.yaml"), "services:\n  bad:\n    auth_token: [unclosed\n");
    writeFileSync(configPath, stringify(mainConfig(dynamicDir, { web: local(WEB_TOKEN) })));

    const proxy = await CredProxyProcess.start({
      config: configPath,
      target,
      args: ["--pid-file", pidFile],
      secrets: [WEB_TOKEN, GOOD_TOKEN, ADDED_TOKEN],
    });
    try {
      await waitFor(() => existsSync(pidFile), "the pid file");
      assert.equal(Number(readFileSync(pidFile, "utf8")), proxy.child.pid);
      assert.deepEqual(await serviceNames(proxy), ["good", "web"]);

      const failures: string[] = [];
      let requests = 0;
      let loading = true;
      const worker = async (token: string) => {
        while (loading) {
          try {
            const response = await fetch(`${proxy.url}/v1/credentials`, { headers: { authorization: token } });
            await response.body?.cancel();
            if (response.status !== 200) failures.push(`${response.status}`);
          } catch (error) {
            failures.push((error as Error).message);
          }
          requests++;
        }
      };
      const load = [WEB_TOKEN, GOOD_TOKEN, WEB_TOKEN, GOOD_TOKEN].map(worker);

      // A valid new config adds a service; the running ones keep serving.
      writeFileSync(configPath, stringify(mainConfig(dynamicDir, { web: local(WEB_TOKEN), added: local(ADDED_TOKEN) })));
      process.kill(proxy.child.pid!, "SIGHUP");
      await waitFor(async () => (await serviceNames(proxy)).includes("added"), "the added service");

      // An invalid config is logged and the running one stays.
      writeFileSync(configPath, "services:\n  web:\n    auth_token: short\n");
      process.kill(proxy.child.pid!, "SIGHUP");
      await waitFor(() => proxy.logs.includes("Cannot reload config"), "the failed reload in the log");
      assert.deepEqual(await serviceNames(proxy), ["added", "good", "web"]);

      // credproxy reload signals the process named in the pid file.
      writeFileSync(configPath, stringify(mainConfig(dynamicDir, { web: local(WEB_TOKEN) })));
      const cli = await runCli(["reload", "--pid-file", pidFile], { target });
      assert.equal(cli.code, 0, cli.stderr);
      await waitFor(async () => !(await serviceNames(proxy)).includes("added"), "the removed service");

      loading = false;
      await Promise.all(load);
      assert.deepEqual(failures, []);
      assert.ok(requests > 50, `only ${requests} requests ran during the reloads`);
      assert.equal((await proxy.request("/v1/credentials", ADDED_TOKEN)).status, 401);

      const badFileErrors = proxy.logRecords().filter((record) => String(record.message ?? "").includes("bad.yaml"));
      assert.ok(badFileErrors.length >= 1, "the bad dynamic file should be reported");
    } finally {
      assert.equal(await proxy.stop(), 0);
    }
    assert.equal(existsSync(pidFile), false);
  });
}

test("credproxy reload fails without a pid file", async () => {
  const result = await runCli(["reload"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^credproxy: No pid file: pass --pid-file FILE or set CREDPROXY_PID_FILE/);
});

test("credproxy reload reports a stale pid file", async () => {
  const pidFile = join(tempDir(), "stale.pid");
  writeFileSync(pidFile, "4194300\n");
  const result = await runCli(["reload", "--pid-file", pidFile]);
  assert.deepEqual({ code: result.code, stderr: result.stderr }, {
    code: 1,
    stderr: `credproxy: Cannot reload: no process has ID 4194300; the pid file "${pidFile}" is stale\n`,
  });
});

test("credproxy reload refuses a pid that is not CredProxy", async () => {
  const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    const pidFile = join(tempDir(), "reused.pid");
    writeFileSync(pidFile, `${sleeper.pid}\n`);
    const result = await runCli(["reload", "--pid-file", pidFile]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `credproxy: Cannot reload: process ${sleeper.pid} from "${pidFile}" is not CredProxy; the pid file is stale\n`);
    assert.equal(sleeper.exitCode, null);
    assert.equal(sleeper.signalCode, null);
  } finally {
    sleeper.kill("SIGKILL");
  }
});
