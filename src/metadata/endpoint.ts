/**
 * Starting and stopping the metadata endpoint: put its addresses on `lo`, listen on each,
 * and on close stop listening and take away only the addresses it added.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { LoopbackManager } from "../loopback/loopback.ts";
import { type Listener, listen } from "../runtime/runtime.ts";
import { isLoopbackHost } from "../server/addresses.ts";
import { createMetadataApp } from "./app.ts";
import type { MetadataForwarder } from "./forwarder.ts";
import { checkListenAddress, formatHost, formatListenAddress, isMetadataAddress, type ListenAddress } from "./listen-address.ts";

/** Options of {@linkcode startMetadataEndpoint}. */
export interface MetadataEndpointOptions {
  forwarder: MetadataForwarder;
  /** Addresses to listen on, such as 169.254.170.2:80 and 127.0.0.1:80. */
  listen: readonly ListenAddress[];
  /**
   * Add the metadata addresses among the listen addresses (169.254.0.0/16, fd00:ec2::23)
   * to `lo` unless they are there (needs CAP_NET_ADMIN), and remove them on close. Other
   * addresses are never added: they belong to another interface or are on `lo` already
   * (127.0.0.0/8, ::1).
   * @default true
   */
  addAddresses?: boolean;
  /** Serve peers that are not on this host's loopback. @default false */
  allowNonLoopbackPeers?: boolean;
  /** The `ip` executable. @default `ip` on PATH, then the sbin directories */
  ipPath?: string;
  /** Log `/health` requests that succeed. @default false */
  logHealthChecks?: boolean;
}

/** A running metadata endpoint. */
export interface RunningMetadataEndpoint {
  /** One listener per address served. */
  readonly listeners: readonly Listener[];
  /** The addresses served, with the ports chosen for port 0. */
  readonly addresses: readonly ListenAddress[];
  /** Addresses this endpoint added to `lo` and will remove on close. */
  readonly addedAddresses: readonly string[];
  /**
   * Stops listening (requests in flight get at most `graceMs`), then removes the addresses
   * it added.
   *
   * @throws {LoopbackError} when an added address cannot be removed
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the metadata endpoint on every address in `options.listen`.
 *
 * An IPv6 address is skipped with a warning when IPv6 is disabled on `lo`; every other
 * failure stops start-up, after undoing what was done.
 *
 * @throws {RangeError} on an invalid listen address, {@linkcode LoopbackError} when an
 * address cannot be added, and the runtime's error when an address cannot be bound
 */
export async function startMetadataEndpoint(options: MetadataEndpointOptions): Promise<RunningMetadataEndpoint> {
  const logger = getLogger(["credproxy", "metadata"]);
  const wanted = unique(options.listen.map((address) => checkListenAddress(address)));
  const allowNonLoopbackPeers = options.allowNonLoopbackPeers ?? false;
  if (allowNonLoopbackPeers) {
    logger.warn("The metadata endpoint serves peers beyond this host: anything that reaches it can try tokens");
  }

  const loopback = (options.addAddresses ?? true)
    ? await addLoopbackAddresses(wanted, options.ipPath)
    : { manager: undefined, skipped: new Set<string>() };
  const served = wanted.filter((address) => !loopback.skipped.has(address.host));

  const app = createMetadataApp({
    forwarder: options.forwarder,
    listen: served,
    allowNonLoopbackPeers,
    logHealthChecks: options.logHealthChecks,
  });
  const listeners: Listener[] = [];
  try {
    for (const address of served) {
      listeners.push(await listenOn(address, (request, info) => app.fetch(request, info)));
    }
  } catch (error) {
    await Promise.all(listeners.map((listener) => listener.close(0)));
    await loopback.manager?.removeAdded();
    throw error;
  }

  const addresses = served.map((address, index) => ({ host: address.host, port: listeners[index].port }));
  logger.info("Metadata endpoint serving at {urls} ({mode})", {
    urls: addresses.map((address) => `http://${formatListenAddress(address)}`).join(", "),
    mode: options.forwarder.mode,
  });

  return {
    listeners,
    addresses,
    addedAddresses: loopback.manager?.added.map((host) => host.address) ?? [],
    async close(graceMs = 10_000) {
      await Promise.all(listeners.map((listener) => listener.close(graceMs)));
      await loopback.manager?.removeAdded();
      logger.info("Metadata endpoint stopped");
    },
  };
}

/** Adds the addresses that `lo` does not have yet; IPv6 ones are skipped where IPv6 is off. */
async function addLoopbackAddresses(
  wanted: readonly ListenAddress[],
  ipPath: string | undefined,
): Promise<{ manager: LoopbackManager | undefined; skipped: Set<string> }> {
  const hosts = [...new Set(wanted.map((address) => address.host).filter(isMetadataAddress))];
  if (hosts.length === 0) return { manager: undefined, skipped: new Set() };

  // Loaded on demand: dax is needed only when addresses are managed.
  const { createLoopbackManager } = await import("../loopback/loopback.ts");
  const manager = await createLoopbackManager(ipPath === undefined ? {} : { ipPath });
  const result = await manager.add(hosts);
  const skipped = new Set(
    result.addresses.filter((entry) => entry.outcome === "skipped-ipv6-disabled").map((entry) => entry.address),
  );
  return { manager, skipped };
}

async function listenOn(address: ListenAddress, handler: Parameters<typeof listen>[1]): Promise<Listener> {
  try {
    // Addresses on lo are reachable from this host only, where the guard's inner port is
    // reachable too, so the guard would add cost without protection.
    const onLoopback = isLoopbackHost(address.host) || isMetadataAddress(address.host);
    return await listen({ hostname: address.host, port: address.port, guard: !onLoopback }, handler);
  } catch (error) {
    throw new Error(`Cannot listen on ${formatListenAddress(address)}: ${describeListenError(error, address)}`, {
      cause: error,
    });
  }
}

function describeListenError(error: unknown, address: ListenAddress): string {
  const code = (error as { code?: string })?.code ?? (error as Error)?.name;
  if (code === "EADDRINUSE" || code === "AddrInUse") return "address already in use";
  if (code === "EADDRNOTAVAIL" || code === "AddrNotAvailable") {
    return `${formatHost(address.host)} is not on any interface; let CredProxy add it (metadata.add_addresses) or run credproxy loopback add ${address.host}`;
  }
  if (code === "EACCES" || code === "PermissionDenied") {
    return "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)";
  }
  return (error as Error)?.message ?? String(error);
}

function unique(addresses: ListenAddress[]): ListenAddress[] {
  const seen = new Set<string>();
  return addresses.filter((address) => {
    const key = formatListenAddress(address);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
