/**
 * The sidecar: the metadata endpoint alone, forwarding to an upstream CredProxy. It reports
 * healthy only once the upstream has passed a health check.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type MetadataEndpointOptions, type RunningMetadataEndpoint, startMetadataEndpoint } from "./endpoint.ts";
import type { MetadataForwarder } from "./forwarder.ts";
import { createUpstreamForwarder, type UpstreamOptions } from "./upstream.ts";

/** First wait between upstream health checks at start-up, in milliseconds. */
export const INITIAL_BACKOFF_MS = 250;
/** Maximum wait between upstream health checks at start-up, in milliseconds. */
export const MAX_BACKOFF_MS = 5000;

/** Options of {@linkcode startSidecar}. */
export interface SidecarOptions extends Omit<MetadataEndpointOptions, "forwarder">, UpstreamOptions {
  /** Backoff of the start-up health checks, in milliseconds. @default {initial: 250, max: 5000} */
  backoff?: { initialMs: number; maxMs: number };
}

/** A running sidecar. */
export interface RunningSidecar {
  readonly endpoint: RunningMetadataEndpoint;
  /** Resolves once the upstream has passed a health check (or the sidecar was closed first). */
  readonly ready: Promise<void>;
  /** Stops the health checks and the endpoint, removing the addresses it added. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the metadata endpoint in upstream mode and checks the upstream's health with
 * exponential backoff until it passes. Until then the sidecar's `/health` returns 503
 * `starting`. Credential requests are forwarded all along, so an SDK gets the upstream's
 * response or a 502 rather than waiting.
 *
 * @throws what {@linkcode startMetadataEndpoint} and {@linkcode createUpstreamForwarder} throw
 */
export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const logger = getLogger(["credproxy", "metadata", "sidecar"]);
  const upstream = createUpstreamForwarder(options);
  const gate = new ReadinessGate(upstream);
  const endpoint = await startMetadataEndpoint({ ...options, forwarder: gate.forwarder });

  const stopping = new AbortController();
  const backoff = options.backoff ?? { initialMs: INITIAL_BACKOFF_MS, maxMs: MAX_BACKOFF_MS };
  const origin = new URL(options.url).origin;
  const ready = waitUntilHealthy(upstream, backoff, stopping.signal, (attempt, delayMs, status) => {
    // The first failure and then every tenth: a slow upstream must not flood the log.
    if (attempt === 1 || attempt % 10 === 0) {
      logger.info("Waiting for upstream {origin}: health check {attempt} returned {status}; next in {delayMs} ms", {
        origin,
        attempt,
        status,
        delayMs,
      });
    }
  }).then((healthy) => {
    if (!healthy) return;
    gate.open();
    logger.info("Upstream {origin} is healthy; the sidecar reports healthy", { origin });
  });

  return {
    endpoint,
    ready,
    async close(graceMs) {
      stopping.abort();
      await ready;
      await endpoint.close(graceMs);
    },
  };
}

/**
 * Calls `forwarder.health()` until it returns 200, waiting `initialMs`, doubling up to
 * `maxMs`, between tries. Resolves `true` when healthy, `false` when `signal` aborts first.
 */
export async function waitUntilHealthy(
  forwarder: Pick<MetadataForwarder, "health">,
  backoff: { initialMs: number; maxMs: number },
  signal: AbortSignal,
  onRetry: (attempt: number, delayMs: number, status: number) => void = () => {},
): Promise<boolean> {
  let delayMs = backoff.initialMs;
  for (let attempt = 1; !signal.aborted; attempt++) {
    const answer = await forwarder.health();
    if (answer.status === 200) return true;
    onRetry(attempt, delayMs, answer.status);
    if (!(await sleep(delayMs, signal))) return false;
    delayMs = Math.min(delayMs * 2, backoff.maxMs);
  }
  return false;
}

/** Answers `/health` with 503 `starting` until opened; credentials pass through at all times. */
class ReadinessGate {
  readonly forwarder: MetadataForwarder;
  #open = false;

  constructor(upstream: MetadataForwarder) {
    this.forwarder = {
      mode: upstream.mode,
      credentialPaths: upstream.credentialPaths,
      credentials: (request) => upstream.credentials(request),
      health: async () => {
        if (this.#open) return await upstream.health();
        return { status: 503, body: { status: "starting", mode: upstream.mode }, reason: "upstream not healthy yet" };
      },
    };
  }

  open(): void {
    this.#open = true;
  }
}

/** Waits `ms`; resolves `false` at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
