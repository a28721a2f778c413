/**
 * The set of services CredProxy serves, and the lookup from token to service.
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { CredentialBroker } from "../credentials/broker.ts";

/** A service as the HTTP layer uses it. */
export interface Service {
  /** Name from the config, used in logs, errors and metrics. */
  readonly name: string;
  /** Origin of this service's definition: `config` or a dynamic file's path. */
  readonly origin: string;
  readonly broker: CredentialBroker;
  /** Extra paths the metadata endpoint serves this service on, besides `/v1/credentials`. */
  readonly metadataPaths?: readonly string[];
}

interface Entry {
  service: Service;
  digest: Buffer;
}

/** Options of {@linkcode ServiceRegistry}. */
export interface RegistryOptions {
  /**
   * Seconds a service's previous token keeps selecting it after {@linkcode ServiceRegistry.set}
   * gives the service a new token. @default 0
   */
  tokenOverlapSeconds?: number;
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number;
}

/** A token that was replaced and still works until `until`. */
interface RetiredToken {
  name: string;
  /** Origin of the service when its token was replaced; the overlap ends if the name changes hands. */
  origin: string;
  digest: Buffer;
  until: number;
}

/**
 * Maps tokens to services without keeping or comparing raw tokens.
 *
 * Each token is stored as an HMAC under a key made at start-up. A lookup hashes the
 * presented token and finds the entry by digest. So the time a lookup takes reveals nothing
 * about how much of a real token a guess matched (a timing attack). The final comparison is
 * constant-time as well.
 *
 * When a service's token changes, the old one keeps selecting the service for the
 * configured overlap, because clients such as botocore read a token file once and keep
 * sending what they read.
 */
export class ServiceRegistry {
  #key = randomBytes(32);
  #byDigest = new Map<string, Entry>();
  #byName = new Map<string, Entry>();
  #retired = new Map<string, RetiredToken>();
  #version = 0;
  #overlapMs: number;
  #now: () => number;

  constructor(options: RegistryOptions = {}) {
    const overlap = options.tokenOverlapSeconds ?? 0;
    if (!(overlap >= 0)) throw new RangeError(`tokenOverlapSeconds must not be negative, got ${overlap}`);
    this.#overlapMs = overlap * 1000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Adds a service, or replaces the service of the same name and stops its broker. When the
   * replaced service had another token, that token keeps selecting this name for the
   * overlap. Passing the running service again with a new token only changes the token.
   */
  set(service: Service, token: string): void {
    const digest = this.#digest(token);
    const key = digest.toString("base64");
    const previous = this.#byName.get(service.name);
    this.#pruneRetired();
    // Only a service's own source rotating its token gets an overlap: when another source
    // takes over the name, the old token belongs to a different service and must stop.
    const sameOwner = previous?.service.origin === service.origin;
    if (previous && sameOwner && !timingSafeEqual(previous.digest, digest) && this.#overlapMs > 0) {
      this.#retired.set(previous.digest.toString("base64"), {
        name: service.name,
        origin: service.origin,
        digest: previous.digest,
        until: this.#now() + this.#overlapMs,
      });
    }
    if (previous && !sameOwner) this.#endOverlap(service.name);
    // Passing the running service with a new token changes only the token: its broker
    // and cached credentials stay.
    this.#detach(service.name, previous?.service.broker !== service.broker);
    this.#retired.delete(key);

    const entry = { service, digest };
    this.#byDigest.set(key, entry);
    this.#byName.set(service.name, entry);
    this.#version++;
  }

  /** Removes a service by name, with any of its tokens in overlap, and stops its broker; returns whether it existed. */
  delete(name: string): boolean {
    this.#endOverlap(name);
    return this.#detach(name);
  }

  /**
   * Sets the overlap for tokens replaced from now on, and shortens the overlap of tokens
   * already replaced to at most the new length; 0 ends every overlap at once, as after a leak.
   */
  setTokenOverlap(seconds: number): void {
    if (!(seconds >= 0)) throw new RangeError(`tokenOverlapSeconds must not be negative, got ${seconds}`);
    this.#overlapMs = seconds * 1000;
    const latest = this.#now() + this.#overlapMs;
    for (const [key, retired] of this.#retired) {
      if (this.#overlapMs === 0) this.#retired.delete(key);
      else retired.until = Math.min(retired.until, latest);
    }
  }

  /** Returns the service whose replaced token `token` is, while its overlap lasts. */
  overlapHolder(token: string): { name: string; origin: string } | undefined {
    this.#pruneRetired();
    const digest = this.#digest(token);
    const retired = this.#retired.get(digest.toString("base64"));
    if (!retired || !timingSafeEqual(retired.digest, digest)) return undefined;
    return { name: retired.name, origin: retired.origin };
  }

  #endOverlap(name: string): void {
    for (const [key, retired] of this.#retired) if (retired.name === name) this.#retired.delete(key);
  }

  /** Returns the service that `token` selects, or undefined. */
  findByToken(token: string): Service | undefined {
    const digest = this.#digest(token);
    const key = digest.toString("base64");
    const entry = this.#byDigest.get(key);
    if (entry && timingSafeEqual(entry.digest, digest)) return entry.service;

    const retired = this.#retired.get(key);
    if (!retired || !timingSafeEqual(retired.digest, digest)) return undefined;
    if (this.#now() >= retired.until) {
      this.#retired.delete(key);
      return undefined;
    }
    const service = this.#byName.get(retired.name)?.service;
    return service?.origin === retired.origin ? service : undefined;
  }

  /** Returns the service of that name, or undefined. */
  get(name: string): Service | undefined {
    return this.#byName.get(name)?.service;
  }

  /** Returns whether `token` is the current token of the service called `name`. */
  hasTokenFor(name: string, token: string): boolean {
    const entry = this.#byName.get(name);
    return entry !== undefined && timingSafeEqual(entry.digest, this.#digest(token));
  }

  /**
   * Returns whether `token` is the current token of some service other than `exceptName`.
   * Tokens in overlap do not count here; {@linkcode overlapHolder} reports them.
   */
  hasToken(token: string, exceptName?: string): boolean {
    const digest = this.#digest(token);
    const entry = this.#byDigest.get(digest.toString("base64"));
    return entry !== undefined && timingSafeEqual(entry.digest, digest) && entry.service.name !== exceptName;
  }

  /** Counter that changes whenever a service is added, replaced or removed, for caches derived from the services. */
  get version(): number {
    return this.#version;
  }

  /** Returns every service, in insertion order. */
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

  /** Number of replaced tokens that still work. */
  get retiredTokens(): number {
    this.#pruneRetired();
    return this.#retired.size;
  }

  /** Removes a service's current entry, keeping its tokens in overlap; stops its broker when `stopBroker` is true. */
  #detach(name: string, stopBroker = true): boolean {
    const entry = this.#byName.get(name);
    if (!entry) return false;
    this.#byName.delete(name);
    this.#byDigest.delete(entry.digest.toString("base64"));
    this.#version++;
    if (stopBroker) entry.service.broker.stop();
    return true;
  }

  #pruneRetired(): void {
    const now = this.#now();
    for (const [key, retired] of this.#retired) if (now >= retired.until) this.#retired.delete(key);
  }

  #digest(token: string): Buffer {
    return createHmac("sha256", this.#key).update(token, "utf8").digest();
  }
}
