/**
 * The `metadata` section of the config file and the per-service `metadata_paths`, kept
 * beside the endpoint they configure. `src/config/schema.ts` puts them into the file's
 * schema.
 *
 * @module
 */

import * as v from "valibot";
import { checkListenAddress, DEFAULT_LISTEN_ADDRESSES, type ListenAddress, parseListenAddress } from "./listen-address.ts";

const LISTEN_HINT = "must be HOST:PORT such as 169.254.170.2:80, or a {host, port} mapping";

/** `"169.254.170.2:80"` or `{host: 169.254.170.2, port: 80}`, checked and normalized. */
const listenAddress = v.pipe(
  v.union([
    v.string(LISTEN_HINT),
    v.strictObject({
      host: v.string("must be an IPv4 or IPv6 literal"),
      port: v.optional(v.number("must be a port number from 1 to 65535"), 80),
    }),
  ], LISTEN_HINT),
  v.rawTransform(({ dataset, addIssue, NEVER }): ListenAddress => {
    try {
      return typeof dataset.value === "string"
        ? parseListenAddress(dataset.value)
        : checkListenAddress(dataset.value);
    } catch (error) {
      // The parser names the value; an address is not a secret.
      addIssue({ message: (error as Error).message.replace(/^Invalid listen address "[^"]*": /, "") });
      return NEVER;
    }
  }),
);

/**
 * A path the metadata endpoint serves credentials on besides `/v1/credentials`. Query and
 * fragment belong to the request, not the route.
 */
export const MetadataPathSchema = v.pipe(
  v.string("must be a URL path such as /creds"),
  v.regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%\/-]*$/, "must be a URL path that starts with / and has no query or fragment"),
  v.maxLength(256, "must be at most 256 characters long"),
  v.check((path) => path !== "/health", "must not be /health, which the endpoint serves for health checks"),
);

/** The metadata endpoint emulator: where it listens and whom it serves. */
export const MetadataSchema = v.strictObject({
  /** Start the emulator with `credproxy serve` (also `--metadata`). */
  enabled: v.optional(v.boolean("must be true or false"), false),
  listen: v.optional(
    v.pipe(
      v.array(listenAddress, "must be a list of listen addresses"),
      v.minLength(1, "must name at least one address"),
    ),
    () => DEFAULT_LISTEN_ADDRESSES.map((address) => ({ ...address })),
  ),
  /** Add listen addresses that are not on `lo` yet (needs CAP_NET_ADMIN), remove them on exit. */
  add_addresses: v.optional(v.boolean("must be true or false"), true),
  /** Serve peers that are not on this host's loopback. */
  allow_non_loopback_peers: v.optional(v.boolean("must be true or false"), false),
  /** The `ip` executable for adding addresses. @default `ip` on PATH, then the sbin directories */
  ip_path: v.optional(v.pipe(v.string("must be a path to ip"), v.nonEmpty("must not be empty"))),
});

/** The `metadata` section after validation and defaults. */
export type MetadataConfig = v.InferOutput<typeof MetadataSchema>;
