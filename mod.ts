/**
 * CredProxy: serves AWS credentials to containers the way ECS does.
 *
 * Run it as a program (`deno run -A mod.ts serve --config FILE`, `bun mod.ts …`, or the
 * compiled binary), or use it as a library from a Deno or Bun script:
 *
 * @example
 * ```ts
 * import { loadConfigFile, startCredProxy } from "./mod.ts";
 *
 * const { config } = loadConfigFile("examples/quickstart/credproxy.yaml");
 * const proxy = await startCredProxy({ config });
 * console.log(`Serving at ${proxy.url}`);
 * await proxy.close();
 * ```
 *
 * @module
 */

import process from "node:process";
import { main } from "./src/cli/main.ts";

export { ConfigError, type ConfigProblem } from "./src/config/errors.ts";
export { type LoadedConfig, loadConfigFile, parseConfigText, validateDocument } from "./src/config/load.ts";
export { type Config, ConfigSchema, type ServiceConfig } from "./src/config/schema.ts";
export { configJsonSchema } from "./src/config/json-schema.ts";
export { type Clock, CredentialBroker, systemClock } from "./src/credentials/broker.ts";
export { CredentialsError } from "./src/credentials/errors.ts";
export type { ServedCredentials } from "./src/credentials/types.ts";
export { createApp } from "./src/server/app.ts";
export { type RunningCredProxy, startCredProxy, type StartOptions } from "./src/server/server.ts";
export { ServiceRegistry } from "./src/services/registry.ts";
export { LiveServices } from "./src/services/dynamic/live-services.ts";
export { ConfigReloader } from "./src/config/reload.ts";
export { CredProxyMetrics } from "./src/observability/metrics.ts";
export {
  createInProcessForwarder,
  createMetadataApp,
  createUpstreamForwarder,
  DEFAULT_LISTEN_ADDRESSES,
  EKS_POD_IDENTITY_LISTEN_ADDRESSES,
  type ListenAddress,
  type MetadataEndpointOptions,
  type MetadataForwarder,
  type RunningMetadataEndpoint,
  type RunningSidecar,
  type SidecarOptions,
  startMetadataEndpoint,
  startSidecar,
} from "./src/metadata/mod.ts";
export { setupLogging } from "./src/observability/logging.ts";
export { SecretRedactor } from "./src/observability/redactor.ts";
export { main } from "./src/cli/main.ts";
export { COMMIT, VERSION } from "./src/version.ts";

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
  // Brokers' timers are unreferenced, but SDK sockets may linger; the command is done.
  process.exit();
}
