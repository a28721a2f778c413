/**
 * The readiness view: which services have credentials to serve and which are failing.
 *
 * @module
 */

import { type Clock, systemClock } from "../credentials/broker.ts";
import type { ServiceRegistry } from "../services/registry.ts";

/** Path of the readiness view on the API listener. */
export const READY_PATH = "/ready";

/** One service in the readiness view. It contains no secret and no file path. */
export interface ServiceReadiness {
  name: string;
  /** `config` for the main config file, `dynamic` for a dynamic service file. */
  origin: "config" | "dynamic";
  state: "starting" | "ready" | "refreshing" | "failing" | "stopped";
  /** Seconds until the cached credentials expire, when there are any. */
  expiresInSeconds?: number;
  /** STS or CredProxy error code of the last failed fetch, cleared by the next success. */
  lastErrorCode?: string;
}

/** Body of the readiness view. */
export interface Readiness {
  /** `ready` when every service has credentials to serve (or there are none). */
  status: "ready" | "not_ready";
  services: ServiceReadiness[];
}

/** Builds the readiness view from the brokers' states. */
export function readiness(registry: ServiceRegistry, clock: Clock = systemClock): Readiness {
  const services = registry.list().map((service): ServiceReadiness => {
    const status = service.broker.status();
    const entry: ServiceReadiness = {
      name: service.name,
      origin: service.origin === "config" ? "config" : "dynamic",
      state: status.state,
    };
    if (status.expiration) entry.expiresInSeconds = Math.round((status.expiration.getTime() - clock.now()) / 1000);
    if (status.lastErrorCode) entry.lastErrorCode = status.lastErrorCode;
    return entry;
  });
  const ready = services.every((service) => service.state === "ready" || service.state === "refreshing");
  return { status: ready ? "ready" : "not_ready", services };
}
