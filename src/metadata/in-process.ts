/**
 * The metadata endpoint inside `credproxy serve`, configured by the `metadata` section.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type { ServiceRegistry } from "../services/registry.ts";
import { type RunningMetadataEndpoint, startMetadataEndpoint } from "./endpoint.ts";
import { createInProcessForwarder } from "./forwarder.ts";

/**
 * Starts the metadata endpoint on the addresses of `config.metadata`, serving credentials
 * from `registry` directly.
 *
 * NOTE: `metadata_paths` are read from `config.services` at start; services added later
 * (dynamic service files) are served on `/v1/credentials` only.
 */
export async function startInProcessMetadataEndpoint(
  config: Config,
  registry: ServiceRegistry,
): Promise<RunningMetadataEndpoint> {
  const servicePaths = Object.fromEntries(
    Object.entries(config.services).map(([name, service]) => [name, service.metadata_paths]),
  );
  return await startMetadataEndpoint({
    forwarder: createInProcessForwarder(registry, servicePaths),
    listen: config.metadata.listen,
    addAddresses: config.metadata.add_addresses,
    allowNonLoopbackPeers: config.metadata.allow_non_loopback_peers,
    ipPath: config.metadata.ip_path,
    logHealthChecks: config.server.log_health_checks,
  });
}
