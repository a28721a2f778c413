/**
 * A running CredProxy: its services, their brokers and the API listener.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Config } from "../config/schema.ts";
import type { Clock } from "../credentials/broker.ts";
import { CredProxyMetrics } from "../observability/metrics.ts";
import type { SecretRedactor } from "../observability/redactor.ts";
import { type Listener, listen } from "../runtime/runtime.ts";
import { LiveServices } from "../services/dynamic/live-services.ts";
import type { SyncResult } from "../services/dynamic/service-sync.ts";
import { ServiceRegistry } from "../services/registry.ts";
import { createApp } from "./app.ts";
import { isLoopbackHost } from "./addresses.ts";
import { type MetricsListener, startMetricsListener } from "./metrics-listener.ts";

/** Options of {@linkcode startCredProxy}. */
export interface StartOptions {
  config: Config;
  /** Environment used for region and endpoint variables. @default the process environment */
  env?: Record<string, string | undefined>;
  clock?: Clock;
  redactor?: SecretRedactor;
  /** Wait for every service's first fetch before listening. @default true */
  warmBeforeListening?: boolean;
  /** Path of the main config file, to name it in messages about dynamic service files. */
  configPath?: string;
  /** Subscribe to file change events in dynamic service directories; false relies on scans. @default true */
  useFileEvents?: boolean;
}

/** A running CredProxy. */
export interface RunningCredProxy {
  readonly registry: ServiceRegistry;
  readonly listener: Listener;
  /** Base URL of the API, such as `http://127.0.0.1:1338`. */
  readonly url: string;
  readonly metrics: CredProxyMetrics;
  /** URL of the Prometheus page when `metrics.prometheus.enabled`, such as `http://127.0.0.1:9090/metrics`. */
  readonly metricsUrl?: string;
  /** The main config's and the dynamic files' services, kept in the registry. */
  readonly services: LiveServices;
  /**
   * Swaps in a new, already validated main config without dropping requests in flight.
   * Services whose effective definition is unchanged keep their credentials and tokens;
   * listener addresses change only with a restart.
   */
  reload(config: Config): Promise<SyncResult>;
  /** Stops listening (letting requests in flight finish, at most `graceMs`) and stops every broker. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Builds every configured service, fetches their credentials and starts the API listener.
 *
 * A service whose first fetch fails does not stop start-up. It returns 503 and keeps
 * retrying, while the other services are served.
 */
export async function startCredProxy(options: StartOptions): Promise<RunningCredProxy> {
  const logger = getLogger(["credproxy", "server"]);
  const { config } = options;
  const registry = new ServiceRegistry({
    tokenOverlapSeconds: config.credentials.token_overlap_seconds,
    now: options.clock ? () => options.clock!.now() : undefined,
  });
  // The app reports requests to the metrics, and the metrics need the app's routes, so the
  // closure below reads `metrics` only once requests arrive, after it is set.
  const app = createApp({
    registry,
    logHealthChecks: config.server.log_health_checks,
    onRequest: (request) => metrics?.observeRequest(request),
    clock: options.clock,
  });
  const metrics: CredProxyMetrics = new CredProxyMetrics({ registry, routes: app.routes.map((route) => route.path), clock: options.clock });

  const services = new LiveServices({
    registry,
    config,
    configPath: options.configPath,
    context: {
      clock: options.clock,
      env: options.env,
      redactor: options.redactor,
      onFetch: (event) => metrics.observeFetch(event),
      onClockSkew: (event) => metrics.observeClockSkew(event.skewMs),
    },
    metrics,
    useEvents: options.useFileEvents,
  });
  await services.start({ waitForWarm: options.warmBeforeListening ?? true });

  let metricsListener: MetricsListener | undefined;
  const { host, port } = config.server;
  if (!isLoopbackHost(host)) {
    logger.warn("Listening on {host}, which is not a loopback address: anything that can reach it can try tokens", { host });
  }

  let listener: Listener;
  try {
    const prometheus = config.metrics.prometheus;
    if (prometheus.enabled) metricsListener = await startMetricsListener(metrics, prometheus.host, prometheus.port);
    const limits = { headersTimeoutMs: config.server.header_timeout_seconds * 1000, maxConnections: config.server.max_connections };
    const guard = useConnectionGuard(config.server.connection_guard, host);
    listener = await listen({ hostname: host, port, limits, guard }, (request, info) => app.fetch(request, { remoteAddress: info.remoteAddress }));
  } catch (error) {
    await services.stop();
    await metricsListener?.listener.close(0);
    registry.clear();
    throw error;
  }
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${listener.port}`;
  logger.info("Serving {count} services at {url}", { count: registry.size, url });

  return {
    registry,
    listener,
    url,
    metrics,
    metricsUrl: metricsListener?.url,
    services,
    reload: (newConfig) => {
      registry.setTokenOverlap(newConfig.credentials.token_overlap_seconds);
      return services.applyConfig(newConfig);
    },
    async close(graceMs = 10_000) {
      await services.stop();
      await listener.close(graceMs);
      await metricsListener?.listener.close(0);
      registry.clear();
      logger.info("Stopped serving at {url}", { url });
    },
  };
}

/**
 * Decides whether the connection guard goes in front of the API.
 *
 * The guard relays every connection to the runtime's server on an ephemeral 127.0.0.1
 * port, which any process on this host can reach directly. Its limits therefore protect
 * only against peers beyond loopback, so "auto" spends its cost (about half the throughput,
 * see docs/benchmarks.md) only when the API listens beyond loopback.
 */
export function useConnectionGuard(mode: "auto" | "always" | "never", host: string): boolean {
  if (mode === "auto") return !isLoopbackHost(host);
  return mode === "always";
}
