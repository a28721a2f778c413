/**
 * `credproxy serve` with the metadata endpoint, in a network namespace of its own with the
 * fake STS and real clients, as containers sharing one network namespace (Compose's
 * `network_mode: service:credproxy`) see it.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { launchTargets } from "../support/credproxy-process.ts";
import { NetworkNamespace } from "../support/netns.ts";
import {
  ASSUMED_ARN,
  assumeRoleConfig,
  type ClientKind,
  curlIn,
  localConfig,
  mapConcurrently,
  prefixLengthsOnLo,
  runClientIn,
  runCredProxyIn,
  startCredProxyIn,
  startFakeStsIn,
  WEB_TOKEN,
  writeTokenFile,
} from "./namespace-stack.ts";

const ECS_URI = "http://169.254.170.2/v1/credentials";
const LOOPBACK_URI = "http://127.0.0.1/v1/credentials";
/** Namespaces, processes and a dozen client runs take longer than a unit test's default. */
const SLOW = { timeout: 120_000 };

for (const target of launchTargets()) {
  test(`serve metadata endpoint serves real clients on every URI (${target.name})`, SLOW, async () => {
    await using ns = await NetworkNamespace.create("meta-clients");
    const sts = await startFakeStsIn(ns);
    const proxy = await startCredProxyIn(ns, target, assumeRoleConfig(sts.url, { metadata: { enabled: true } }), { metadata: true });
    try {
      const tokenFile = writeTokenFile();
      const viaToken = { AWS_CONTAINER_AUTHORIZATION_TOKEN: WEB_TOKEN };
      const viaFile = { AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile };
      // NOTE: Debian 12's AWS CLI v2 (2.9) and botocore (1.29) predate
      // AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, so the JavaScript SDK covers the token file.
      const cases: [ClientKind, Record<string, string>][] = [
        ["aws-cli", { AWS_CONTAINER_CREDENTIALS_FULL_URI: ECS_URI, ...viaToken }],
        ["aws-cli", { AWS_CONTAINER_CREDENTIALS_FULL_URI: LOOPBACK_URI, ...viaToken }],
        ["aws-cli", { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v1/credentials", ...viaToken }],
        ["botocore", { AWS_CONTAINER_CREDENTIALS_FULL_URI: ECS_URI, ...viaToken }],
        ["botocore", { AWS_CONTAINER_CREDENTIALS_FULL_URI: LOOPBACK_URI, ...viaToken }],
        ["botocore", { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v1/credentials", ...viaToken }],
        ["fromHttp", { AWS_CONTAINER_CREDENTIALS_FULL_URI: ECS_URI, ...viaToken }],
        ["fromHttp", { AWS_CONTAINER_CREDENTIALS_FULL_URI: LOOPBACK_URI, ...viaFile }],
        ["fromHttp", { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v1/credentials", ...viaFile }],
        ["fromContainerMetadata", { AWS_CONTAINER_CREDENTIALS_FULL_URI: LOOPBACK_URI, ...viaToken }],
        ["fromContainerMetadata", { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v1/credentials", ...viaToken }],
        ["defaultChain", { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v1/credentials", ...viaToken }],
        ["defaultChain", { AWS_CONTAINER_CREDENTIALS_FULL_URI: ECS_URI, ...viaFile }],
      ];

      const results = await mapConcurrently(cases, 4, ([kind, env]) => runClientIn(ns, kind, sts.url, env));
      const served = await curlIn(ns, `${proxy.url}/v1/credentials`, { authorization: WEB_TOKEN });
      proxy.secrets.add(served.body.SecretAccessKey);
      proxy.secrets.add(served.body.Token);

      for (const [index, result] of results.entries()) {
        const [kind, env] = cases[index];
        const label = `${kind} with ${JSON.stringify(env)}`;
        assert.equal(result.code, 0, `${label} failed: ${result.stdout}\n${result.stderr}`);
        assert.match(result.json?.arn ?? "", ASSUMED_ARN, label);
        if (result.json?.accessKeyId) assert.equal(result.json.accessKeyId, served.body.AccessKeyId, label);
      }
      const identityCalls = sts.calls.filter((call) => call.action === "GetCallerIdentity");
      assert.equal(identityCalls.length, cases.length);
      for (const call of identityCalls) {
        assert.deepEqual(call, { action: "GetCallerIdentity", accessKeyId: served.body.AccessKeyId, signatureValid: true, status: 200 });
      }
    } finally {
      assert.equal(await proxy.stop(), 0);
      await sts.stop();
    }
  });

  test(`serve --metadata binds lo addresses only, as one /32 (${target.name})`, SLOW, async () => {
    await using ns = await NetworkNamespace.create("meta-bind");
    const proxy = await startCredProxyIn(ns, target, localConfig(), { args: ["--metadata"], metadata: true });
    try {
      const listeners = await ns.exec(["ss", "-Htln"]);
      const localAddresses = listeners.stdout.trim().split("\n").map((line) => line.trim().split(/\s+/)[3]);
      const routeLocalnet = await ns.exec(["cat", "/proc/sys/net/ipv4/conf/lo/route_localnet", "/proc/sys/net/ipv4/conf/all/route_localnet"]);

      assert.deepEqual(await prefixLengthsOnLo(ns, "169.254.170.2"), [32]);
      assert.ok(localAddresses.includes("169.254.170.2:80"), listeners.stdout);
      assert.ok(localAddresses.includes("127.0.0.1:80"), listeners.stdout);
      // Bun keeps extra listeners of its own on 127.0.0.1; only the wildcard matters here.
      assert.deepEqual(localAddresses.filter((address) => /^(0\.0\.0\.0|\[::\]|\*):/.test(address)), []);
      assert.equal(routeLocalnet.stdout, "0\n0\n");
    } finally {
      await proxy.stop();
    }
  });

  test(`serve --metadata removes its address on SIGTERM and exits 0 (${target.name})`, SLOW, async () => {
    await using ns = await NetworkNamespace.create("meta-stop");
    const proxy = await startCredProxyIn(ns, target, localConfig(), { args: ["--metadata"], metadata: true });

    const healthcheck = await runCredProxyIn(ns, target, ["healthcheck", "--url", "http://169.254.170.2/health"]);
    const code = await proxy.stop("SIGTERM");

    assert.equal(healthcheck.code, 0, healthcheck.stderr);
    assert.equal(code, 0);
    assert.deepEqual(await prefixLengthsOnLo(ns, "169.254.170.2"), []);
  });
}
