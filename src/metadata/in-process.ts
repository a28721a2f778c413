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
 * from `registry` directly, on `/v1/credentials` and each service's `metadata_paths`.
 */
export async function startInProcessMetadataEndpoint(
  config: Config,
  registry: ServiceRegistry,
): Promise<RunningMetadataEndpoint> {
  return await startMetadataEndpoint({
    forwarder: createInProcessForwarder(registry),
    listen: config.metadata.listen,
    addAddresses: config.metadata.add_addresses,
    allowNonLoopbackPeers: config.metadata.allow_non_loopback_peers,
    ipPath: config.metadata.ip_path,
    logHealthChecks: config.server.log_health_checks,
  });
}
