/**
 * The set of services CredProxy serves, and the lookup from token to service.
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { CredentialBroker } from "../credentials/broker.ts";

/** A service as the HTTP layer sees it. */
export interface Service {
  /** Name from the config, used in logs, errors and metrics. */
  readonly name: string;
  /** Where this service was defined: `config` or a dynamic file's path. */
  readonly origin: string;
  readonly broker: CredentialBroker;
}

interface Entry {
  service: Service;
  digest: Buffer;
}

/**
 * Maps tokens to services without keeping or comparing raw tokens.
 *
 * Each token is stored as an HMAC under a key made at start-up. A lookup hashes the
 * presented token and finds the entry by digest, so the time a lookup takes reveals nothing
 * about how much of a real token a guess matched (a timing attack); the final comparison is
 * constant-time as well.
 */
export class ServiceRegistry {
  #key = randomBytes(32);
  #byDigest = new Map<string, Entry>();
  #byName = new Map<string, Entry>();

  /** Adds a service, or replaces the service of the same name. */
  set(service: Service, token: string): void {
    this.delete(service.name);
    const digest = this.#digest(token);
    const entry = { service, digest };
    this.#byDigest.set(digest.toString("base64"), entry);
    this.#byName.set(service.name, entry);
  }

  /** Removes a service by name and stops its broker; returns whether it existed. */
  delete(name: string): boolean {
    const entry = this.#byName.get(name);
    if (!entry) return false;
    this.#byName.delete(name);
    this.#byDigest.delete(entry.digest.toString("base64"));
    entry.service.broker.stop();
    return true;
  }

  /** Returns the service that `token` selects, or undefined. */
  findByToken(token: string): Service | undefined {
    const digest = this.#digest(token);
    const entry = this.#byDigest.get(digest.toString("base64"));
    if (!entry || !timingSafeEqual(entry.digest, digest)) return undefined;
    return entry.service;
  }

  /** Returns the service of that name, or undefined. */
  get(name: string): Service | undefined {
    return this.#byName.get(name)?.service;
  }

  /** Returns whether `token` already selects some service other than `exceptName`. */
  hasToken(token: string, exceptName?: string): boolean {
    const service = this.findByToken(token);
    return service !== undefined && service.name !== exceptName;
  }

  /** Every service, in insertion order. */
  list(): Service[] {
    return [...this.#byName.values()].map((entry) => entry.service);
  }

  /** Number of services. */
  get size(): number {
    return this.#byName.size;
  }

  /** Stops every broker and removes every service. */
  clear(): void {
    for (const name of [...this.#byName.keys()]) this.delete(name);
  }

  #digest(token: string): Buffer {
    return createHmac("sha256", this.#key).update(token, "utf8").digest();
  }
}
