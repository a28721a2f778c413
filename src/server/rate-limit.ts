/**
 * Rate limiting of failed authentications per peer address.
 *
 * Tokens are at least 16 visible ASCII characters, so guessing one is hopeless anyway. The
 * limit keeps a misbehaving or hostile local process from flooding the log and the service
 * with attempts.
 *
 * @module
 */

/** Options of {@linkcode FailedAuthLimiter}. */
export interface FailedAuthLimiterOptions {
  /** Failed authentications a peer may make in a row before it is limited. @default 20 */
  burst?: number;
  /** Failed authentications a peer earns back per second. @default 1 */
  refillPerSecond?: number;
  /**
   * How long a token that selected a service from a peer stays exempt from that peer's
   * limit, in seconds. @default 86400
   */
  trustSeconds?: number;
  /** Peers and trusted tokens kept at most each; the least recently used go first. @default 10000 */
  maxEntries?: number;
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number;
}

interface Bucket {
  /** Failures the peer may still make; fractional while refilling. */
  allowance: number;
  updatedAt: number;
}

/**
 * A token bucket of failed authentications per peer.
 *
 * All loopback clients share one peer address, so a single client retrying with a stale
 * token would otherwise lock every other client on the host out. Tokens that recently
 * selected a service from the same peer therefore pass while the peer is limited: that
 * exemption gives a guesser nothing, because it only covers tokens already known to work.
 */
export class FailedAuthLimiter {
  readonly burst: number;
  #refillPerMs: number;
  #trustMs: number;
  #maxEntries: number;
  #now: () => number;
  #buckets = new Map<string, Bucket>();
  #trusted = new Map<string, number>();

  constructor(options: FailedAuthLimiterOptions = {}) {
    this.burst = options.burst ?? 20;
    const refill = options.refillPerSecond ?? 1;
    this.#trustMs = (options.trustSeconds ?? 86_400) * 1000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    if (!(this.burst >= 1)) throw new RangeError(`burst must be at least 1, got ${this.burst}`);
    if (!(refill > 0)) throw new RangeError(`refillPerSecond must be positive, got ${refill}`);
    if (!(this.#maxEntries >= 1)) throw new RangeError(`maxEntries must be at least 1, got ${this.#maxEntries}`);
    this.#refillPerMs = refill / 1000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Returns the seconds a limited peer should wait before trying again, or undefined when
   * the request may go ahead. `tokenKey` is a digest of the presented token, if any.
   */
  retryAfter(peer: string, tokenKey?: string): number | undefined {
    const bucket = this.#refilled(peer);
    if (!bucket || bucket.allowance >= 1) return undefined;
    if (tokenKey !== undefined && this.#isTrusted(peer, tokenKey)) return undefined;
    return Math.max(1, Math.ceil((1 - bucket.allowance) / this.#refillPerMs / 1000));
  }

  /** Counts a failed authentication; returns true when this failure used up the peer's allowance. */
  recordFailure(peer: string): boolean {
    const bucket = this.#refilled(peer) ?? { allowance: this.burst, updatedAt: this.#now() };
    const wasAllowed = bucket.allowance >= 1;
    bucket.allowance = Math.max(0, bucket.allowance - 1);
    remember(this.#buckets, peer, bucket, this.#maxEntries);
    return wasAllowed && bucket.allowance < 1;
  }

  /** Records that `tokenKey` selected a service from `peer`. */
  recordSuccess(peer: string, tokenKey: string): void {
    remember(this.#trusted, `${peer}\0${tokenKey}`, this.#now() + this.#trustMs, this.#maxEntries);
  }

  /** Number of peers with failures on record. */
  get trackedPeers(): number {
    return this.#buckets.size;
  }

  #isTrusted(peer: string, tokenKey: string): boolean {
    const key = `${peer}\0${tokenKey}`;
    const until = this.#trusted.get(key);
    if (until === undefined) return false;
    if (this.#now() < until) return true;
    this.#trusted.delete(key);
    return false;
  }

  /** The peer's bucket with the allowance earned back since its last update; full buckets are dropped. */
  #refilled(peer: string): Bucket | undefined {
    const bucket = this.#buckets.get(peer);
    if (!bucket) return undefined;
    const now = this.#now();
    bucket.allowance = Math.min(this.burst, bucket.allowance + (now - bucket.updatedAt) * this.#refillPerMs);
    bucket.updatedAt = now;
    if (bucket.allowance >= this.burst) {
      this.#buckets.delete(peer);
      return undefined;
    }
    return bucket;
  }
}

/** Sets `key` as the most recently used entry and drops the least recently used beyond `max`. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value!);
}
