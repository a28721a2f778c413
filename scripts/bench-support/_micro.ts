import { validateDocument } from "../../src/config/load.ts";
import { setupLogging } from "../../src/observability/logging.ts";
import { SecretRedactor } from "../../src/observability/redactor.ts";
import { createApp } from "../../src/server/app.ts";
import { buildService } from "../../src/services/build.ts";
import { ServiceRegistry } from "../../src/services/registry.ts";
import { CredProxyMetrics } from "../../src/observability/metrics.ts";
import { openSync, writeSync } from "node:fs";

const level = process.env.LEVEL ?? "info";
const fd = openSync("/dev/null", "w");
const redactor = new SecretRedactor();
await setupLogging({ level: level as any, redactor, write: process.env.STDERR ? undefined : (line) => writeSync(fd, line) });
const { config } = validateDocument({ services: { web: { auth_token: "bench-web-token-0123456789", source_credentials: { local: {} } } } }, "x", { env: {} });
const registry = new ServiceRegistry();
const service = buildService("web", config.services.web, { config, redactor });
await service.broker.start();
registry.set(service, "bench-web-token-0123456789");
let metrics: CredProxyMetrics | undefined;
const app = createApp({ registry, onRequest: process.env.NOMETRICS ? undefined : (r) => metrics?.observeRequest(r) });
metrics = new CredProxyMetrics({ registry, routes: app.routes.map((r) => r.path) });
const N = 100000;
async function once() {
  const req = new Request("http://127.0.0.1:1338/v1/credentials", { headers: { authorization: "bench-web-token-0123456789", host: "127.0.0.1:1338", "user-agent": "wrk" } });
  const res = await app.fetch(req, { remoteAddress: "127.0.0.1" });
  await res.text();
}
for (let i = 0; i < 20000; i++) await once();
const t = performance.now();
for (let i = 0; i < N; i++) await once();
console.log(`${level} metrics=${!process.env.NOMETRICS}: ${((performance.now() - t) * 1000 / N).toFixed(2)} us/request`);
