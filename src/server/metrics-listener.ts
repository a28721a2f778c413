/**
 * The Prometheus listener: `/metrics` on its own address, apart from the credentials API.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { CredProxyMetrics } from "../observability/metrics.ts";
import { type Listener, listen } from "../runtime/runtime.ts";
import { isLoopbackHost } from "./addresses.ts";

/** Path Prometheus scrapes. */
export const METRICS_PATH = "/metrics";

/** A running metrics listener. */
export interface MetricsListener {
  readonly listener: Listener;
  /** URL of the metrics page, such as `http://127.0.0.1:9090/metrics`. */
  readonly url: string;
}

/**
 * Serves `metrics` at `/metrics` on `host`:`port`.
 *
 * @throws when the address cannot be bound, so a bad port fails start-up.
 */
export async function startMetricsListener(metrics: CredProxyMetrics, host: string, port: number): Promise<MetricsListener> {
  const logger = getLogger(["credproxy", "metrics"]);
  if (!isLoopbackHost(host)) {
    logger.warn("Serving metrics on {host}, which is not a loopback address: service names and states are visible to anything that can reach it", { host });
  }

  const listener = await listen({ hostname: host, port }, async function serveMetrics(request) {
    const { pathname } = new URL(request.url);
    if (pathname !== METRICS_PATH) return new Response("Not found; metrics are served at /metrics\n", { status: 404 });
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Only GET and HEAD are allowed here\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    return new Response(await metrics.text(), { headers: { "content-type": metrics.contentType, "cache-control": "no-store" } });
  });
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${listener.port}${METRICS_PATH}`;
  logger.info("Serving Prometheus metrics at {metricsUrl}", { metricsUrl: url });
  return { listener, url };
}
