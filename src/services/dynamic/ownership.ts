/**
 * Ownership of services: the main config, or the dynamic file that defined each one.
 *
 * @module
 */

import type { ServiceConfig } from "../../config/schema.ts";

/** Origin of the services defined in the main config file. */
export const CONFIG_ORIGIN = "config";

/** A service definition and where it came from. */
export interface ServiceClaim {
  name: string;
  /** {@linkcode CONFIG_ORIGIN}, or the path of the dynamic file. */
  origin: string;
  config: ServiceConfig;
}

/** A dynamic file's service that was not accepted because a name or token was taken. */
export interface Rejection {
  service: string;
  /** Path of the file whose service was refused. */
  file: string;
  /** Kind of value that was already taken. */
  conflict: "name" | "token";
  /** Origin that owns the name or token: {@linkcode CONFIG_ORIGIN} or a file path. */
  heldBy: string;
  /** Name of the service that owns the token, or the same name for a name conflict. */
  heldByService: string;
}

/** Input of {@linkcode resolveOwnership}. */
export interface OwnershipInput {
  staticServices: Record<string, ServiceConfig>;
  /** The services each dynamic file defined in its last valid version, keyed by path. */
  files: ReadonlyMap<string, Record<string, ServiceConfig>>;
  /** Origin that served each service before, so a holder keeps its name and token. */
  previousOrigins: ReadonlyMap<string, string>;
  /**
   * Returns the service whose replaced token this is while its overlap lasts. Such a token
   * still reaches that service's clients, so no other service may take it.
   */
  overlapHolder?: (token: string) => { name: string; origin: string } | undefined;
}

/** Result of {@linkcode resolveOwnership}. */
export interface Ownership {
  /** Every accepted service by name. */
  services: Map<string, ServiceClaim>;
  rejections: Rejection[];
}

/**
 * Decides which services are served.
 *
 * The main config's services always win. A dynamic file may not take a name or token that
 * the main config or another file owns. When two files claim the same name or token, the
 * one that served it before keeps it. Between newcomers, the file path that sorts first
 * wins, so the outcome does not depend on the order in which the files were found. A refused
 * service is accepted later, once its conflict is gone.
 */
export function resolveOwnership(input: OwnershipInput): Ownership {
  const services = new Map<string, ServiceClaim>();
  const tokenHolders = new Map<string, ServiceClaim>();
  for (const [name, config] of Object.entries(input.staticServices)) {
    const claim = { name, origin: CONFIG_ORIGIN, config };
    services.set(name, claim);
    tokenHolders.set(config.auth_token, claim);
  }

  const claims: ServiceClaim[] = [];
  for (const path of [...input.files.keys()].sort()) {
    for (const [name, config] of Object.entries(input.files.get(path)!)) claims.push({ name, origin: path, config });
  }
  const heldBefore = (claim: ServiceClaim) => input.previousOrigins.get(claim.name) === claim.origin;
  const ordered = [...claims.filter(heldBefore), ...claims.filter((claim) => !heldBefore(claim))];

  const rejections: Rejection[] = [];
  for (const claim of ordered) {
    const sameName = services.get(claim.name);
    if (sameName) {
      rejections.push({ service: claim.name, file: claim.origin, conflict: "name", heldBy: sameName.origin, heldByService: sameName.name });
      continue;
    }
    const sameToken = tokenHolders.get(claim.config.auth_token);
    if (sameToken) {
      rejections.push({ service: claim.name, file: claim.origin, conflict: "token", heldBy: sameToken.origin, heldByService: sameToken.name });
      continue;
    }
    const overlap = input.overlapHolder?.(claim.config.auth_token);
    if (overlap && overlap.name !== claim.name) {
      rejections.push({ service: claim.name, file: claim.origin, conflict: "token", heldBy: overlap.origin, heldByService: overlap.name });
      continue;
    }
    services.set(claim.name, claim);
    tokenHolders.set(claim.config.auth_token, claim);
  }
  return { services, rejections };
}

/** Describes a rejection for the log, naming both sources and never the token. */
export function describeRejection(rejection: Rejection, configPath: string): string {
  const holder = rejection.heldBy === CONFIG_ORIGIN ? `the main config "${configPath}"` : `"${rejection.heldBy}"`;
  if (rejection.conflict === "name") {
    return `Ignoring service "${rejection.service}" in "${rejection.file}": ${holder} already defines a service of that name; rename one of them`;
  }
  return `Ignoring service "${rejection.service}" in "${rejection.file}": its auth_token is already the token of service "${rejection.heldByService}" in ${holder}; every service needs its own token`;
}
