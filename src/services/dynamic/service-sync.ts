/**
 * Bringing the registry in line with a new set of service definitions.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { effectiveSource } from "../../config/cross-checks.ts";
import type { Config } from "../../config/schema.ts";
import type { Service, ServiceRegistry } from "../registry.ts";
import type { ServiceClaim } from "./ownership.ts";

/** Options of {@linkcode ServiceSync}. */
export interface ServiceSyncOptions {
  registry: ServiceRegistry;
  /** Builds a service, broker not started, under the config given. */
  build: (claim: ServiceClaim, config: Config) => Service;
  /** Called after a service left the registry, such as to drop its metric series. */
  onRemoved?: (name: string) => void;
}

/** Names of the services one {@linkcode ServiceSync.apply} added, updated and removed. */
export interface SyncResult {
  added: string[];
  updated: string[];
  removed: string[];
}

/**
 * Applies sets of service definitions to a registry, touching only what changed.
 *
 * A service whose definition, origin and effective settings are unchanged keeps its broker,
 * its cached credentials and its token. A new or changed service gets a new broker that is
 * warmed before it goes in, so its first request is served from cache. Until then a changed
 * service keeps serving from its old broker. At the swap, the old broker's cache and timers
 * are dropped. Removed services leave at once.
 */
export class ServiceSync {
  readonly #options: ServiceSyncOptions;
  #fingerprints = new Map<string, string>();

  constructor(options: ServiceSyncOptions) {
    this.#options = options;
  }

  /**
   * Makes the registry serve exactly `desired`; callers must not run two applies at once.
   * With `waitForWarm: false`, new services go in at once and warm in the background.
   */
  async apply(
    desired: ReadonlyMap<string, ServiceClaim>,
    config: Config,
    options: { waitForWarm?: boolean; frozenOrigins?: ReadonlySet<string> } = {},
  ): Promise<SyncResult> {
    const { registry } = this.#options;
    const result: SyncResult = { added: [], updated: [], removed: [] };

    for (const service of registry.list()) {
      if (desired.has(service.name)) continue;
      registry.delete(service.name);
      this.#fingerprints.delete(service.name);
      this.#options.onRemoved?.(service.name);
      result.removed.push(service.name);
    }

    const fresh: { service: Service; token: string; fingerprint: string }[] = [];
    for (const claim of desired.values()) {
      const fingerprint = fingerprintOf(claim, config);
      const running = registry.get(claim.name);
      if (running && running.origin === claim.origin && options.frozenOrigins?.has(claim.origin)) continue;
      if (running && this.#fingerprints.get(claim.name) === fingerprint) {
        // A new token alone keeps the broker and its cached credentials: the registry
        // swaps the token and lets the old one work for the overlap.
        if (!registry.hasTokenFor(claim.name, claim.config.auth_token)) {
          registry.set(running, claim.config.auth_token);
          result.updated.push(claim.name);
        }
        continue;
      }
      fresh.push({ service: this.#options.build(claim, config), token: claim.config.auth_token, fingerprint });
      (running ? result.updated : result.added).push(claim.name);
    }

    // start() settles after the first fetch, successful or not. A failed service goes in
    // anyway and returns 503 while its broker retries.
    const warming = Promise.all(fresh.map(({ service }) => service.broker.start()));
    if (options.waitForWarm ?? true) await warming;
    for (const { service, token, fingerprint } of fresh) {
      registry.set(service, token);
      this.#fingerprints.set(service.name, fingerprint);
    }
    return result;
  }
}

/**
 * Hashes everything a service's broker depends on: its own definition but its token, the
 * defaults it inherits and the credentials settings. The digest never leaves the process.
 */
function fingerprintOf(claim: ServiceClaim, config: Config): string {
  // The token is left out: it selects the service but does not change its credentials.
  const { auth_token: _token, ...service } = claim.config;
  const inputs = {
    origin: claim.origin,
    service,
    source: effectiveSource(config, claim.config),
    credentials: config.credentials,
  };
  return createHash("sha256").update(JSON.stringify(inputs)).digest("hex");
}
