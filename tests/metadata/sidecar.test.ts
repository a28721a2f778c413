/**
 * `credproxy sidecar` in one network namespace, forwarding to a CredProxy in another joined
 * by a veth pair, with real clients beside the sidecar.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { launchTargets } from "../support/credproxy-process.ts";
import { NetworkNamespace } from "../support/netns.ts";
import {
  ADDRESS_A,
  ADDRESS_B,
  ASSUMED_ARN,
  assumeRoleConfig,
  type ClientKind,
  createNamespacePair,
  curlIn,
  eventually,
  localConfig,
  mapConcurrently,
  prefixLengthsOnLo,
  runClientIn,
  runCredProxyIn,
  startCredProxyIn,
  startFakeStsIn,
  startSidecarIn,
  WEB_TOKEN,
  writeTokenFile,
} from "./namespace-stack.ts";

/** Namespaces, processes and client runs take longer than a unit test's default. */
const SLOW = { timeout: 120_000 };
const UPSTREAM_URL = `http://${ADDRESS_A}:1338`;
/** The port the fake STS is exposed on to the sidecar's namespace. */
const STS_PORT = 4566;
/** An upstream nothing listens on, for tests that need no CredProxy. */
const NO_UPSTREAM = "http://127.0.0.1:9";

for (const target of launchTargets()) {
  test(`sidecar serves real clients from an upstream in another namespace (${target.name})`, SLOW, async () => {
    await using pair = await createNamespacePair("sidecar-clients");
    const sts = await startFakeStsIn(pair.a);
    // The fake STS listens on loopback only; socat exposes it to the clients' namespace.
    pair.a.spawn(["socat", `TCP-LISTEN:${STS_PORT},bind=${ADDRESS_A},fork,reuseaddr`, `TCP:127.0.0.1:${new URL(sts.url).port}`], { stdout: "null" });
    const proxy = await startCredProxyIn(pair.a, target, assumeRoleConfig(sts.url, { server: { host: ADDRESS_A, port: 1338 } }));
    const sidecar = await startSidecarIn(pair.b, target, ["--upstream", UPSTREAM_URL]);
    try {
      await eventually("sidecar healthy", async () => (await curlIn(pair.b, "http://127.0.0.1/health")).status === 200);
      const stsUrl = `http://${ADDRESS_A}:${STS_PORT}`;
      const cases: [ClientKind, Record<string, string>][] = [
        ["fromHttp", { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://169.254.170.2/v1/credentials", AWS_CONTAINER_AUTHORIZATION_TOKEN: WEB_TOKEN }],
        ["defaultChain", { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v1/credentials", AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: writeTokenFile() }],
        ["botocore", { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v1/credentials", AWS_CONTAINER_AUTHORIZATION_TOKEN: WEB_TOKEN }],
        ["aws-cli", { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://127.0.0.1/v1/credentials", AWS_CONTAINER_AUTHORIZATION_TOKEN: WEB_TOKEN }],
      ];

      const results = await mapConcurrently(cases, 4, ([kind, env]) => runClientIn(pair.b, kind, stsUrl, env));
      const served = await curlIn(pair.a, `${UPSTREAM_URL}/v1/credentials`, { authorization: WEB_TOKEN });
      proxy.secrets.add(served.body.SecretAccessKey);
      proxy.secrets.add(served.body.Token);
      sidecar.secrets.add(served.body.SecretAccessKey);
      sidecar.secrets.add(served.body.Token);

      for (const [index, result] of results.entries()) {
        const label = `${cases[index][0]} with ${JSON.stringify(cases[index][1])}`;
        assert.equal(result.code, 0, `${label} failed: ${result.stdout}\n${result.stderr}`);
        assert.match(result.json?.arn ?? "", ASSUMED_ARN, label);
      }
      const identityCalls = sts.calls.filter((call) => call.action === "GetCallerIdentity");
      assert.equal(identityCalls.length, cases.length);
      for (const call of identityCalls) {
        assert.deepEqual(call, { action: "GetCallerIdentity", accessKeyId: served.body.AccessKeyId, signatureValid: true, status: 200 });
      }
    } finally {
      assert.equal(await sidecar.stop(), 0);
      await proxy.stop();
      await sts.stop();
    }
  });

  test(`sidecar reports healthy only once the upstream is (${target.name})`, SLOW, async () => {
    await using pair = await createNamespacePair("sidecar-health");
    const sidecar = await startSidecarIn(pair.b, target, ["--upstream", UPSTREAM_URL]);
    let proxy;
    try {
      const before = await runCredProxyIn(pair.b, target, ["healthcheck", "--url", "http://127.0.0.1/health"]);
      const beforeBody = await curlIn(pair.b, "http://169.254.170.2/health");
      proxy = await startCredProxyIn(pair.a, target, localConfig({ server: { host: ADDRESS_A, port: 1338 } }));
      await eventually("sidecar healthy", async () => (await curlIn(pair.b, "http://169.254.170.2/health")).status === 200);
      const after = await runCredProxyIn(pair.b, target, ["healthcheck", "--url", "http://169.254.170.2/health"]);

      assert.equal(before.code, 1);
      assert.match(before.stderr, /returned 503 with status "starting"/);
      assert.deepEqual(beforeBody, { status: 503, body: { status: "starting", mode: "upstream" } });
      assert.equal(after.code, 0, after.stderr);
    } finally {
      await sidecar.stop();
      await proxy?.stop();
    }
  });

  test(`sidecar answers 502 while the upstream is down, then serves again (${target.name})`, SLOW, async () => {
    await using pair = await createNamespacePair("sidecar-outage");
    const config = localConfig({ server: { host: ADDRESS_A, port: 1338 } });
    let proxy = await startCredProxyIn(pair.a, target, config);
    const sidecar = await startSidecarIn(pair.b, target, ["--upstream", UPSTREAM_URL]);
    try {
      const auth = { authorization: WEB_TOKEN };
      const first = await curlIn(pair.b, "http://169.254.170.2/v1/credentials", auth);
      sidecar.secrets.add(first.body.SecretAccessKey);
      sidecar.secrets.add(first.body.Token);
      proxy.secrets.add(first.body.SecretAccessKey);
      proxy.secrets.add(first.body.Token);
      assert.equal(await proxy.stop(), 0);

      const during = await curlIn(pair.b, "http://169.254.170.2/v1/credentials", auth);
      const health = await runCredProxyIn(pair.b, target, ["healthcheck", "--url", "http://127.0.0.1/health"]);
      proxy = await startCredProxyIn(pair.a, target, config);
      const after = await curlIn(pair.b, "http://169.254.170.2/v1/credentials", auth);
      sidecar.secrets.add(after.body.SecretAccessKey);
      sidecar.secrets.add(after.body.Token);
      proxy.secrets.add(after.body.SecretAccessKey);
      proxy.secrets.add(after.body.Token);

      assert.equal(first.status, 200);
      assert.equal(during.status, 502);
      assert.equal(during.body.Code, "UpstreamUnreachable");
      assert.equal(during.body.code, "UpstreamUnreachable");
      assert.equal(health.code, 1);
      assert.equal(after.status, 200);
      assert.match(after.body.AccessKeyId, /^ASIA/);
    } finally {
      assert.equal(await sidecar.stop(), 0);
      await proxy.stop();
    }
  });

  test(`sidecar rejects peers in another namespace unless allowed (${target.name})`, SLOW, async () => {
    await using pair = await createNamespacePair("sidecar-peers");
    const strict = await startSidecarIn(pair.b, target, ["--upstream", NO_UPSTREAM, "--listen", "169.254.170.2:80", "--listen", `${ADDRESS_B}:80`]);
    const open = await startSidecarIn(pair.b, target, ["--upstream", NO_UPSTREAM, "--listen", `${ADDRESS_B}:8080`, "--allow-non-loopback-peers"]);
    try {
      const remote = await curlIn(pair.a, `http://${ADDRESS_B}/health`);
      const local = await curlIn(pair.b, `http://${ADDRESS_B}/health`);
      const allowed = await curlIn(pair.a, `http://${ADDRESS_B}:8080/health`);
      const rebinding = await curlIn(pair.b, "http://169.254.170.2/v1/credentials", { host: "attacker.example", authorization: WEB_TOKEN });

      assert.deepEqual([remote.status, remote.body.Code], [403, "PeerNotAllowed"]);
      assert.deepEqual(local.body, { status: "starting", mode: "upstream" });
      assert.deepEqual(allowed.body, { status: "starting", mode: "upstream" });
      assert.deepEqual([rebinding.status, rebinding.body.Code], [403, "InvalidHost"]);
    } finally {
      await open.stop();
      await strict.stop();
    }
  });

  test(`sidecar started twice keeps one /32 and removes only what it added (${target.name})`, SLOW, async () => {
    await using ns = await NetworkNamespace.create("sidecar-twice");
    await ns.exec(["ip", "addr", "add", "169.254.170.23/32", "dev", "lo"]);
    const first = await startSidecarIn(ns, target, ["--upstream", NO_UPSTREAM, "--listen", "169.254.170.2:80", "--listen", "169.254.170.23:80"]);
    const second = await startSidecarIn(ns, target, ["--upstream", NO_UPSTREAM, "--listen", "169.254.170.2:8080"]);
    const clash = await runCredProxyIn(ns, target, ["sidecar", "--upstream", NO_UPSTREAM, "--listen", "169.254.170.2:80"]);

    const whileBoth = await prefixLengthsOnLo(ns, "169.254.170.2");
    assert.equal(await second.stop(), 0);
    const afterSecond = await prefixLengthsOnLo(ns, "169.254.170.2");
    assert.equal(await first.stop(), 0);

    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /Cannot listen on 169\.254\.170\.2:80: address already in use/);
    assert.deepEqual(whileBoth, [32]);
    assert.deepEqual(afterSecond, [32]);
    assert.deepEqual(await prefixLengthsOnLo(ns, "169.254.170.2"), []);
    assert.deepEqual(await prefixLengthsOnLo(ns, "169.254.170.23"), [32], "an address that was there before stays");
  });

  test(`sidecar without CAP_NET_ADMIN says to add it (${target.name})`, SLOW, async () => {
    await using ns = await NetworkNamespace.create("sidecar-nocap");
    const dropped = await ns.exec(
      ["setpriv", "--inh-caps=-all", "--bounding-set=-net_admin", ...target.argv, "sidecar", "--upstream", NO_UPSTREAM],
      { noThrow: true, env: { AWS_EC2_METADATA_DISABLED: "true" } },
    );

    assert.equal(dropped.code, 1);
    assert.match(dropped.stderr, /lacks CAP_NET_ADMIN.*--cap-add NET_ADMIN/);
    assert.deepEqual(await prefixLengthsOnLo(ns, "169.254.170.2"), []);
  });
}
