import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { validateDocument } from "../../src/config/load.ts";
import { type RunningCredProxy, startCredProxy } from "../../src/server/server.ts";
import { FakeSts } from "../support/fake-sts.ts";
import { parseExposition, valueOf } from "./metrics-text.ts";

const SOURCE = { accessKeyId: "AKIAMETRICSTEST00001", secretAccessKey: "metrics/secret+key/EXAMPLE000000000000000" };
const ALPHA_TOKEN = "alpha-token-0123456789abcdef";
const BETA_TOKEN = "beta-token-0123456789abcdef";

async function startWithMetrics(sts: FakeSts): Promise<RunningCredProxy> {
  const { config } = validateDocument(
    {
      server: { port: 0 },
      metrics: { prometheus: { enabled: true, host: "127.0.0.1", port: 0 } },
      services: {
        alpha: { auth_token: ALPHA_TOKEN, source_credentials: { local: {} } },
        beta: {
          auth_token: BETA_TOKEN,
          source_credentials: {
            region: "us-east-1",
            sts_endpoint: sts.url,
            iam_keys: { aws_access_key_id: SOURCE.accessKeyId, aws_secret_access_key: SOURCE.secretAccessKey },
          },
          assumed_role: { RoleArn: "arn:aws:iam::123456789012:role/beta" },
        },
      },
    },
    "test.yaml",
    { env: {} },
  );
  return await startCredProxy({ config, env: {} });
}

async function get(url: string, authorization?: string): Promise<number> {
  const response = await fetch(url, { headers: authorization === undefined ? {} : { authorization } });
  await response.body?.cancel();
  return response.status;
}

test("metrics count a scripted sequence of requests", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE);
  const running = await startWithMetrics(sts);
  try {
    for (let i = 0; i < 3; i++) assert.equal(await get(`${running.url}/v1/credentials`, ALPHA_TOKEN), 200);
    assert.equal(await get(`${running.url}/v1/credentials`, BETA_TOKEN), 200);
    assert.equal(await get(`${running.url}/v1/credentials`, "not-a-configured-token-000"), 401);
    assert.equal(await get(`${running.url}/v1/credentials`), 401);
    assert.equal(await get(`${running.url}/health`), 200);
    assert.equal(await get(`${running.url}/no/such/route`), 404);

    const response = await fetch(running.metricsUrl!);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await response.text());
    const requests = (labels: Record<string, string>) => valueOf(samples, "credproxy_requests_total", labels);

    assert.equal(requests({ service: "alpha", route: "/v1/credentials", status_class: "2xx" }), 3);
    assert.equal(requests({ service: "beta", route: "/v1/credentials", status_class: "2xx" }), 1);
    assert.equal(requests({ service: "unknown", route: "/v1/credentials", status_class: "4xx" }), 2);
    assert.equal(requests({ service: "unknown", route: "/health", status_class: "2xx" }), 1);
    assert.equal(requests({ service: "unknown", route: "(unmatched)", status_class: "4xx" }), 1);
    assert.equal(valueOf(samples, "credproxy_request_duration_seconds_count", { service: "alpha", route: "/v1/credentials", status_class: "2xx" }), 3);
    assert.equal(valueOf(samples, "credproxy_cache_hits_total", { service: "alpha" }), 3);
    assert.equal(valueOf(samples, "credproxy_cache_hits_total", { service: "beta" }), 1);
    assert.equal(valueOf(samples, "credproxy_sts_requests_total", { service: "beta", outcome: "success" }), 1);
    assert.equal(valueOf(samples, "credproxy_sts_request_duration_seconds_count", { service: "beta" }), 1);
    assert.equal(valueOf(samples, "credproxy_services", { origin: "config" }), 2);
    assert.equal(valueOf(samples, "credproxy_services", { origin: "dynamic" }), 0);
    assert.equal(valueOf(samples, "credproxy_service_ready", { service: "beta" }), 1);
    assert.equal(valueOf(samples, "credproxy_dynamic_reloads_total"), 0);
    assert.equal(valueOf(samples, "credproxy_dynamic_reload_failures_total"), 0);

    const expiry = valueOf(samples, "credproxy_credentials_expiry_seconds", { service: "alpha" })!;
    assert.ok(expiry > 3500, `alpha's credentials should expire in about an hour, not ${expiry} s`);
    assert.ok(expiry <= 3600, `alpha's credentials should expire in about an hour, not ${expiry} s`);
    const buildInfo = samples.find((sample) => sample.name === "credproxy_build_info");
    assert.deepEqual(Object.keys(buildInfo?.labels ?? {}).sort(), ["commit", "runtime", "version"]);
    assert.equal(buildInfo?.value, 1);
  } finally {
    await running.close(0);
    await sts.stop();
  }
});

test("metrics listener answers 404 off /metrics", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE);
  const running = await startWithMetrics(sts);
  try {
    assert.equal(await get(running.metricsUrl!.replace("/metrics", "/v1/credentials"), ALPHA_TOKEN), 404);
  } finally {
    await running.close(0);
    await sts.stop();
  }
});

test("metrics stay bounded under random paths and tokens", async () => {
  const sts = await FakeSts.start();
  sts.addIdentity(SOURCE);
  const running = await startWithMetrics(sts);
  const tokens = new Set<string>();
  const paths = new Set<string>();
  try {
    assert.equal(await get(`${running.url}/v1/credentials`, ALPHA_TOKEN), 200);
    const total = 10_000;
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const token = randomBytes(12).toString("hex");
        tokens.add(token);
        if (i % 2 === 0) {
          await get(`${running.url}/v1/credentials`, token);
        } else {
          const path = `/${randomBytes(6).toString("hex")}/${i}`;
          paths.add(path);
          await get(`${running.url}${path}`, i % 4 === 1 ? token : ALPHA_TOKEN);
        }
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));

    const text = await (await fetch(running.metricsUrl!)).text();
    const samples = parseExposition(text);
    const requestSeries = samples.filter((sample) => sample.name === "credproxy_requests_total");
    const routes = new Set(requestSeries.map((sample) => sample.labels.route));
    const services = 2;
    const statusClasses = 5;
    assert.ok(requestSeries.length <= (services + 1) * routes.size * statusClasses, `${requestSeries.length} series`);
    assert.deepEqual([...routes].sort(), ["(unmatched)", "/v1/credentials"]);
    assert.deepEqual([...new Set(requestSeries.map((sample) => sample.labels.service))].sort(), ["alpha", "unknown"]);

    const labelValues = new Set(samples.flatMap((sample) => Object.values(sample.labels)));
    const sessionNames = sts.calls.map((call) => call.params.RoleSessionName).filter(Boolean);
    for (const value of labelValues) {
      assert.equal(tokens.has(value) || paths.has(value) || value === ALPHA_TOKEN || value === BETA_TOKEN, false, `label value ${value}`);
      assert.equal(sessionNames.includes(value), false, `label value ${value} is a session name`);
      assert.doesNotMatch(value, /^(AKIA|ASIA)[A-Z0-9]{12,}$/);
      assert.doesNotMatch(value, /^[0-9a-f]{24,}$/, `label value ${value} looks like a hash`);
    }
    for (const token of [ALPHA_TOKEN, BETA_TOKEN, SOURCE.accessKeyId]) assert.equal(text.includes(token), false);
  } finally {
    await running.close(0);
    await sts.stop();
  }
});
