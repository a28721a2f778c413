/**
 * CredProxy's API with an empty cache, for the cold-burst measurement.
 *
 * `credproxy serve` fetches every service's credentials before it listens, so no request
 * ever meets an empty cache there. This entry builds the same services, registry, Hono app
 * and listener as `serve`, but does not start the brokers: the first request fetches, and
 * every request that arrives meanwhile must share that one STS call.
 *
 *   bun scripts/bench-support/cold-serve.ts --config FILE --port PORT [--log-level LEVEL]
 *
 * It exits on SIGTERM or SIGINT.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { loadConfigFile } from "../../src/config/load.ts";
import { setupLogging } from "../../src/observability/logging.ts";
import { SecretRedactor } from "../../src/observability/redactor.ts";
import { listen, onSignal } from "../../src/runtime/runtime.ts";
import { createApp } from "../../src/server/app.ts";
import { useConnectionGuard } from "../../src/server/server.ts";
import { buildService } from "../../src/services/build.ts";
import { ServiceRegistry } from "../../src/services/registry.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { config: { type: "string" }, port: { type: "string" }, "log-level": { type: "string" } },
});
if (values.config === undefined || values.port === undefined) {
  console.error("Usage: cold-serve.ts --config FILE --port PORT [--log-level LEVEL]");
  process.exit(2);
}

const redactor = new SecretRedactor();
await setupLogging({ level: (values["log-level"] ?? "info") as "info", redactor });
const { config } = loadConfigFile(values.config, { env: process.env });
const registry = new ServiceRegistry();
for (const [name, serviceConfig] of Object.entries(config.services)) {
  registry.set(buildService(name, serviceConfig, { config, redactor, env: process.env }), serviceConfig.auth_token);
}
const app = createApp({ registry });
// As credproxy serve does on a loopback address (server.connection_guard: auto): no guard.
const listener = await listen(
  { hostname: "127.0.0.1", port: Number(values.port), guard: useConnectionGuard("auto", "127.0.0.1") },
  (request, info) => app.fetch(request, info),
);

const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
onSignal("SIGTERM", stop);
onSignal("SIGINT", stop);
await stopped;
await listener.close(1000);
registry.clear();
process.exit(0);
