/**
 * The credential broker: one per service, it caches credentials, refreshes them ahead of
 * expiry and makes sure that concurrent requests share one STS call.
 *
 * @module
 */

import { CredentialsError, toCredentialsError } from "./errors.ts";
import type { ServedCredentials } from "./types.ts";

/** Time source and timers; tests pass a fake one to move through hours instantly. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `callback` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(callback: () => void, ms: number): () => void;
}

/** The wall clock, with timers that never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, ms) {
    // setTimeout cannot wait longer than 2^31 - 1 ms. A longer wait fires early, so the
    // broker re-checks the clock and sets a new timer.
    const timer = setTimeout(callback, Math.min(Math.max(ms, 0), 2 ** 31 - 1));
    (timer as { unref?: () => void }).unref?.();
    return () => clearTimeout(timer);
  },
};

/** Options of {@linkcode CredentialBroker}. */
export interface BrokerOptions {
  /** Service name, for errors and logs. */
  service: string;
  /** Fetches fresh credentials (AssumeRole, GetSessionToken, minting). */
  fetch: () => Promise<ServedCredentials>;
  /** Credentials are served only while they have more than this left, in seconds. */
  refreshBufferSeconds: number;
  /** First delay before retrying a failed fetch, in seconds; doubles on each failure. */
  retryDelaySeconds: number;
  /** Upper bound of the retry delay, in seconds. @default 300 */
  maxRetryDelaySeconds?: number;
  /**
   * A fetch still pending after this many seconds fails with `Timeout`, so that a source or
   * STS call that never responds cannot hold the single flight forever. @default no limit
   */
  fetchTimeoutSeconds?: number;
  clock?: Clock;
  /** Returns a number in [0, 1); tests fix it to make jitter predictable. @default Math.random */
  random?: () => number;
  /** Called after every fetch, successful or not, for logs and metrics. */
  onFetch?: (event: FetchEvent) => void;
}

/** Outcome of one fetch. */
export type FetchEvent =
  | { service: string; outcome: "success"; durationMs: number; expiration: Date; reason: FetchReason }
  | { service: string; outcome: "failure"; durationMs: number; error: CredentialsError; reason: FetchReason; retryInMs: number };

/** Reason a fetch started. */
export type FetchReason = "start" | "refresh" | "request" | "retry";

/** Source of a served credential (cache or fetch), for request logs and metrics. */
export type CacheOutcome = "hit" | "fetched";

/** Result of {@linkcode CredentialBroker.get}. */
export interface BrokerResult {
  credentials: ServedCredentials;
  cache: CacheOutcome;
}

/** A point-in-time view of a broker, without secrets. */
export interface BrokerStatus {
  state: "starting" | "ready" | "refreshing" | "failing" | "stopped";
  /** Expiry of the cached credentials, if any. */
  expiration?: Date;
  /** Code of the last failure, cleared by the next success. */
  lastErrorCode?: string;
  /** When the next fetch is scheduled. */
  nextFetchAt?: Date;
}

/**
 * Caches one service's credentials.
 *
 * Guarantee: {@linkcode get} only returns credentials with more than the refresh buffer
 * left. A refresh starts earlier than that, so that while STS is failing the cached
 * credentials keep being served until they reach the buffer.
 */
export class CredentialBroker {
  readonly service: string;
  #fetch: () => Promise<ServedCredentials>;
  #bufferMs: number;
  #retryDelayMs: number;
  #maxRetryDelayMs: number;
  #fetchTimeoutMs?: number;
  #clock: Clock;
  #random: () => number;
  #onFetch?: (event: FetchEvent) => void;

  #current?: ServedCredentials;
  #obtainedAt = 0;
  #inflight?: Promise<ServedCredentials>;
  #lastError?: CredentialsError;
  #failures = 0;
  /** Until then, requests with nothing valid to serve get the last error instead of a new fetch. */
  #failureUntil = 0;
  #nextFetchAt?: number;
  #cancelTimer?: () => void;
  #stopped = false;

  constructor(options: BrokerOptions) {
    if (!(options.refreshBufferSeconds >= 0)) throw new RangeError("refreshBufferSeconds must not be negative");
    if (!(options.retryDelaySeconds > 0)) throw new RangeError("retryDelaySeconds must be positive");
    this.service = options.service;
    this.#fetch = options.fetch;
    this.#bufferMs = options.refreshBufferSeconds * 1000;
    this.#retryDelayMs = options.retryDelaySeconds * 1000;
    this.#maxRetryDelayMs = (options.maxRetryDelaySeconds ?? 300) * 1000;
    if (options.fetchTimeoutSeconds !== undefined && !(options.fetchTimeoutSeconds > 0)) {
      throw new RangeError("fetchTimeoutSeconds must be positive");
    }
    this.#fetchTimeoutMs = options.fetchTimeoutSeconds === undefined ? undefined : options.fetchTimeoutSeconds * 1000;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#onFetch = options.onFetch;
  }

  /** Fetches credentials now, so the first request is served from cache. */
  start(): Promise<void> {
    return this.#refresh("start").then(() => undefined, () => undefined);
  }

  /**
   * Returns credentials with more than the refresh buffer left.
   *
   * @throws {CredentialsError} when none can be obtained; its code gives the reason.
   */
  async get(): Promise<BrokerResult> {
    if (this.#stopped) throw new CredentialsError("ServiceRemoved", `Service "${this.service}" was removed`, { permanent: true });
    const now = this.#clock.now();

    if (this.#isServable(this.#current, now)) {
      // Timers do not run while a laptop sleeps or a container is paused, so every request
      // checks whether the refresh is overdue.
      if (this.#nextFetchAt !== undefined && now >= this.#nextFetchAt && !this.#inflight) {
        this.#refresh("refresh").catch(() => {});
      }
      return { credentials: this.#current!, cache: "hit" };
    }

    if (!this.#inflight && now < this.#failureUntil && this.#lastError) throw this.#lastError;
    const credentials = await this.#refresh("request");
    return { credentials, cache: "fetched" };
  }

  /** Returns the broker's state without any secret. */
  status(): BrokerStatus {
    const now = this.#clock.now();
    const servable = this.#isServable(this.#current, now);
    const state = this.#stopped
      ? "stopped"
      : servable && this.#inflight
      ? "refreshing"
      : servable
      ? "ready"
      : this.#lastError
      ? "failing"
      : "starting";
    return {
      state,
      expiration: this.#current?.expiration,
      lastErrorCode: this.#lastError?.code,
      nextFetchAt: this.#nextFetchAt === undefined ? undefined : new Date(this.#nextFetchAt),
    };
  }

  /** Cancels timers and drops cached credentials; later calls to {@linkcode get} fail. */
  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#nextFetchAt = undefined;
    this.#current = undefined;
  }

  #isServable(credentials: ServedCredentials | undefined, now: number): boolean {
    return credentials !== undefined && credentials.expiration.getTime() - now > this.#bufferMs;
  }

  /** Starts a fetch unless one is in flight, in which case every caller shares it. */
  #refresh(reason: FetchReason): Promise<ServedCredentials> {
    if (this.#inflight) return this.#inflight;
    const startedAt = this.#clock.now();
    const attempt = this.#fetchChecked().then(
      (credentials) => this.#onSuccess(credentials, startedAt, reason),
      (error) => this.#onFailure(toCredentialsError(error, `Fetching credentials of service "${this.service}"`), startedAt, reason),
    );
    this.#inflight = attempt.finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #fetchChecked(): Promise<ServedCredentials> {
    const credentials = await this.#withTimeout(this.#fetch());
    const left = credentials.expiration.getTime() - this.#clock.now();
    if (!(left > this.#bufferMs)) {
      throw new CredentialsError(
        "ExpirationTooSoon",
        `Fresh credentials of service "${this.service}" expire in ${Math.round(left / 1000)} s, within the refresh buffer of ${this.#bufferMs / 1000} s`,
        { permanent: true },
      );
    }
    return credentials;
  }

  #withTimeout(fetching: Promise<ServedCredentials>): Promise<ServedCredentials> {
    const timeoutMs = this.#fetchTimeoutMs;
    if (timeoutMs === undefined) return fetching;
    return new Promise((resolve, reject) => {
      const cancel = this.#clock.setTimer(() => {
        reject(new CredentialsError("Timeout", `Fetching credentials of service "${this.service}" timed out after ${timeoutMs / 1000} s`));
      }, timeoutMs);
      fetching.then(resolve, reject).finally(cancel);
    });
  }

  #onSuccess(credentials: ServedCredentials, startedAt: number, reason: FetchReason): ServedCredentials {
    const now = this.#clock.now();
    if (this.#stopped) return credentials;
    this.#current = credentials;
    this.#obtainedAt = now;
    this.#lastError = undefined;
    this.#failures = 0;
    this.#failureUntil = 0;
    this.#schedule(this.#refreshTime(credentials, now) - now);
    this.#onFetch?.({ service: this.service, outcome: "success", durationMs: now - startedAt, expiration: credentials.expiration, reason });
    return credentials;
  }

  #onFailure(error: CredentialsError, startedAt: number, reason: FetchReason): never {
    const now = this.#clock.now();
    if (!this.#stopped) {
      this.#lastError = error;
      this.#failures += 1;
      const delay = this.#retryDelay(error, now);
      // Requests with nothing to serve get this error without a new fetch for at most one
      // base retry delay. A storm of requests then makes one STS call per delay, and clients
      // are not refused for minutes after STS has recovered.
      this.#failureUntil = now + Math.min(delay, this.#retryDelayMs);
      this.#schedule(delay);
      this.#onFetch?.({ service: this.service, outcome: "failure", durationMs: now - startedAt, error, reason, retryInMs: delay });
    }
    throw error;
  }

  /**
   * When to refresh: ahead of the buffer by half the time beyond it, at most 15 minutes,
   * less a random tenth so that services loaded together do not refresh together.
   */
  #refreshTime(credentials: ServedCredentials, now: number): number {
    const bufferStart = credentials.expiration.getTime() - this.#bufferMs;
    const ahead = Math.min(15 * 60_000, Math.max(0, (bufferStart - this.#obtainedAt) / 2));
    const jitter = ahead * 0.1 * this.#random();
    return Math.max(now, bufferStart - ahead - jitter);
  }

  /** Exponential back-off with jitter; throttling starts one step further along. */
  #retryDelay(error: CredentialsError, now: number): number {
    const steps = this.#failures - 1 + (error.throttled ? 1 : 0);
    let base = Math.min(this.#maxRetryDelayMs, this.#retryDelayMs * 2 ** Math.min(steps, 20));
    // While cached credentials are still served, retry at least twice more before they
    // reach the buffer: a long back-off must not outlast them.
    const servableMs = this.#current ? this.#current.expiration.getTime() - this.#bufferMs - now : 0;
    if (servableMs > 0) base = Math.max(Math.min(base, servableMs / 2), Math.min(this.#retryDelayMs, servableMs));
    // Full jitter in the upper half: never sooner than half the delay.
    return Math.round(base / 2 + (base / 2) * this.#random());
  }

  #schedule(delayMs: number): void {
    this.#cancelTimer?.();
    this.#nextFetchAt = this.#clock.now() + delayMs;
    this.#cancelTimer = this.#clock.setTimer(() => this.#onTimer(), delayMs);
  }

  #onTimer(): void {
    this.#cancelTimer = undefined;
    if (this.#stopped) return;
    // A timer capped at 2^31 - 1 ms may fire before the planned time: wait again.
    if (this.#nextFetchAt !== undefined && this.#clock.now() < this.#nextFetchAt) {
      this.#schedule(this.#nextFetchAt - this.#clock.now());
      return;
    }
    const reason: FetchReason = this.#lastError ? "retry" : "refresh";
    this.#refresh(reason).catch(() => {});
  }
}
