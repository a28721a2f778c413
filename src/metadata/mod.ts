/**
 * The metadata endpoint emulator: serves the container credential routes on 169.254.170.2:80
 * and 127.0.0.1:80, from CredProxy in the same process or from an upstream CredProxy.
 *
 * @example
 * ```ts
 * import { createInProcessForwarder, DEFAULT_LISTEN_ADDRESSES, startMetadataEndpoint } from "./src/metadata/mod.ts";
 *
 * const endpoint = await startMetadataEndpoint({
 *   forwarder: createInProcessForwarder(proxy.registry),
 *   listen: DEFAULT_LISTEN_ADDRESSES,
 * });
 * // ... on SIGTERM:
 * await endpoint.close();
 * ```
 *
 * @module
 */

export { acceptedHostValues, createMetadataApp, HEALTH_PATH, isLocalPeer, type MetadataAppOptions, type PeerInfo } from "./app.ts";
export { type MetadataConfig, MetadataPathSchema, MetadataSchema } from "./config-schema.ts";
export { type MetadataEndpointOptions, type RunningMetadataEndpoint, startMetadataEndpoint } from "./endpoint.ts";
export {
  createInProcessForwarder,
  type ForwardedRequest,
  type ForwardedResponse,
  type MetadataForwarder,
} from "./forwarder.ts";
export { endToEndHeaders, HOP_BY_HOP_HEADERS } from "./hop-by-hop.ts";
export {
  DEFAULT_LISTEN_ADDRESSES,
  EKS_POD_IDENTITY_LISTEN_ADDRESSES,
  formatListenAddress,
  isMetadataAddress,
  type ListenAddress,
  METADATA_PORT,
  parseListenAddress,
} from "./listen-address.ts";
export { type RunningSidecar, type SidecarOptions, startSidecar, waitUntilHealthy } from "./sidecar.ts";
export {
  createUpstreamForwarder,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  MAX_UPSTREAM_BODY_BYTES,
  parseUpstreamUrl,
  type UpstreamOptions,
} from "./upstream.ts";
