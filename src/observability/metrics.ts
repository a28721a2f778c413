/**
 * Prometheus metrics of a running CredProxy, through prom-client.
 *
 * Labels hold only service names from the config (or `unknown`), route patterns, status
 * classes and fixed outcome words. A token, a hash of one, a raw path, an access key ID or a
 * session name never becomes a label value, so unknown tokens cannot grow the series.
 *
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Clock, FetchEvent } from "../credentials/broker.ts";
import { systemClock } from "../credentials/broker.ts";
import { runtimeName } from "../runtime/runtime.ts";
import type { ServiceRegistry } from "../services/registry.ts";
import { COMMIT, VERSION } from "../version.ts";

/** Label value for requests that selected no configured service. */
export const UNKNOWN_SERVICE = "unknown";

/** Label value for requests that matched no route. */
export const UNMATCHED_ROUTE = "(unmatched)";

/** One finished HTTP request, with the fields of the API's request log. */
export interface RequestObservation {
  /** Route pattern such as `/v1/credentials`, never the raw path. */
  route: string;
  status: number;
  /** Name of the service the token selected, if any. */
  service?: string;
  cache?: string;
  latencyMs: number;
}

/** Options of {@linkcode CredProxyMetrics}. */
export interface MetricsOptions {
  /** Services served now; only their names become label values. */
  registry: ServiceRegistry;
  /** Route patterns the API serves; any other route is counted as `(unmatched)`. */
  routes: readonly string[];
  clock?: Clock;
}

type ServiceLabelled = Counter<string> | Histogram<string>;

/**
 * The metrics registry and the hooks that feed it.
 *
 * @example
 * ```ts
 * const metrics = new CredProxyMetrics({ registry, routes: ["/v1/credentials", "/health"] });
 * metrics.observeRequest({ route: "/health", status: 200, latencyMs: 0.4 });
 * console.log(await metrics.text());
 * ```
 */
export class CredProxyMetrics {
  /** The prom-client registry; nothing is put in prom-client's global one. */
  readonly prometheus = new Registry();
  readonly #services: ServiceRegistry;
  readonly #routes: Set<string>;
  readonly #clock: Clock;
  /** Label sets created per service, so that a removed service's series can be deleted. */
  readonly #seriesByService = new Map<string, Map<ServiceLabelled, Map<string, Record<string, string>>>>();

  readonly #requests: Counter<string>;
  readonly #requestDuration: Histogram<string>;
  readonly #cacheHits: Counter<string>;
  readonly #cacheMisses: Counter<string>;
  readonly #stsCalls: Counter<string>;
  readonly #stsDuration: Histogram<string>;
  readonly #dynamicReloads: Counter<string>;
  readonly #dynamicReloadFailures: Counter<string>;
  readonly #configReloads: Counter<string>;
  readonly #clockSkew: Gauge<string>;

  constructor(options: MetricsOptions) {
    this.#services = options.registry;
    this.#routes = new Set(options.routes);
    this.#clock = options.clock ?? systemClock;
    const registers = [this.prometheus];
    const services = this.#services;
    const clock = this.#clock;

    this.#requests = new Counter({
      name: "credproxy_requests_total",
      help: "HTTP requests to the CredProxy API by service, route and status class",
      labelNames: ["service", "route", "status_class"],
      registers,
    });
    this.#requestDuration = new Histogram({
      name: "credproxy_request_duration_seconds",
      help: "Time to respond to an HTTP request to the CredProxy API, in seconds",
      labelNames: ["service", "route", "status_class"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#cacheHits = new Counter({
      name: "credproxy_cache_hits_total",
      help: "Credentials requests served from a service's cache",
      labelNames: ["service"],
      registers,
    });
    this.#cacheMisses = new Counter({
      name: "credproxy_cache_misses_total",
      help: "Credentials requests that had to wait for a fetch",
      labelNames: ["service"],
      registers,
    });
    this.#stsCalls = new Counter({
      name: "credproxy_sts_requests_total",
      help: "Credential fetches (STS calls; minting for local services) by service and outcome: success, throttled or failure",
      labelNames: ["service", "outcome"],
      registers,
    });
    this.#stsDuration = new Histogram({
      name: "credproxy_sts_request_duration_seconds",
      help: "Time a credential fetch took, in seconds",
      labelNames: ["service"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new Gauge({
      name: "credproxy_credentials_expiry_seconds",
      help: "Seconds until the cached credentials of each service expire",
      labelNames: ["service"],
      registers,
      collect() {
        this.reset();
        for (const service of services.list()) {
          const expiration = service.broker.status().expiration;
          if (expiration) this.set({ service: service.name }, Math.round((expiration.getTime() - clock.now()) / 1000));
        }
      },
    });
    new Gauge({
      name: "credproxy_service_ready",
      help: "1 when a service has credentials to serve, 0 while it is starting or failing",
      labelNames: ["service"],
      registers,
      collect() {
        this.reset();
        for (const service of services.list()) {
          const { state } = service.broker.status();
          this.set({ service: service.name }, state === "ready" || state === "refreshing" ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "credproxy_services",
      help: "Services served, by where they are defined: config or dynamic",
      labelNames: ["origin"],
      registers,
      collect() {
        const all = services.list();
        const fromConfig = all.filter((service) => service.origin === "config").length;
        this.set({ origin: "config" }, fromConfig);
        this.set({ origin: "dynamic" }, all.length - fromConfig);
      },
    });
    this.#dynamicReloads = new Counter({
      name: "credproxy_dynamic_reloads_total",
      help: "Changes to dynamic service files that were applied",
      registers,
    });
    this.#dynamicReloadFailures = new Counter({
      name: "credproxy_dynamic_reload_failures_total",
      help: "Dynamic service files that could not be loaded; their previous services stay",
      registers,
    });
    this.#configReloads = new Counter({
      name: "credproxy_config_reloads_total",
      help: "Reloads of the main config file by result: success or failure",
      labelNames: ["result"],
      registers,
    });
    this.#clockSkew = new Gauge({
      name: "credproxy_sts_clock_skew_seconds",
      help: "STS's clock minus the local clock, in seconds, from the last STS error that reported a signing-time skew",
      registers,
    });
    const buildInfo = new Gauge({
      name: "credproxy_build_info",
      help: "Always 1; labels name the CredProxy version, commit and JavaScript runtime",
      labelNames: ["version", "commit", "runtime"],
      registers,
    });
    buildInfo.set({ version: VERSION, commit: COMMIT, runtime: runtimeName() }, 1);
    this.#dynamicReloads.inc(0);
    this.#dynamicReloadFailures.inc(0);
  }

  /** Counts a finished API request. */
  observeRequest(request: RequestObservation): void {
    const service = this.#serviceLabel(request.service);
    const labels = {
      service,
      route: this.#routes.has(request.route) ? request.route : UNMATCHED_ROUTE,
      status_class: `${Math.floor(request.status / 100)}xx`,
    };
    this.#count(this.#requests, labels);
    this.#record(this.#requestDuration, labels);
    this.#requestDuration.observe(labels, request.latencyMs / 1000);

    if (service === UNKNOWN_SERVICE) return;
    if (request.cache === "hit") this.#count(this.#cacheHits, { service });
    else if (request.cache === "fetched") this.#count(this.#cacheMisses, { service });
  }

  /** Counts a fetch a broker made; brokers report only while their service is configured. */
  observeFetch(event: FetchEvent): void {
    let outcome = "success";
    if (event.outcome === "failure") outcome = event.error.throttled ? "throttled" : "failure";
    this.#count(this.#stsCalls, { service: event.service, outcome });
    this.#record(this.#stsDuration, { service: event.service });
    this.#stsDuration.observe({ service: event.service }, event.durationMs / 1000);
  }

  /** Records the clock skew STS reported, in milliseconds (STS's time minus the local time). */
  observeClockSkew(skewMs: number): void {
    this.#clockSkew.set(Math.round(skewMs / 1000));
  }

  /** Counts one applied change of the dynamic service files. */
  observeDynamicReload(): void {
    this.#dynamicReloads.inc();
  }

  /** Counts one dynamic service file that failed to load. */
  observeDynamicReloadFailure(): void {
    this.#dynamicReloadFailures.inc();
  }

  /** Counts one reload of the main config file. */
  observeConfigReload(result: "success" | "failure"): void {
    this.#configReloads.inc({ result });
  }

  /** Deletes every series labelled with a service that is no longer served. */
  forgetService(name: string): void {
    const series = this.#seriesByService.get(name);
    if (!series) return;
    for (const [metric, labelSets] of series) {
      for (const labels of labelSets.values()) metric.remove(labels);
    }
    this.#seriesByService.delete(name);
  }

  /** Renders every metric in the Prometheus text format. */
  text(): Promise<string> {
    return this.prometheus.metrics();
  }

  /** Content type of {@linkcode text}. */
  get contentType(): string {
    return this.prometheus.contentType;
  }

  /** A name already in the registry, else `unknown`: a request in flight for a removed service does not bring its series back. */
  #serviceLabel(name: string | undefined): string {
    return name !== undefined && this.#services.get(name) !== undefined ? name : UNKNOWN_SERVICE;
  }

  #count(metric: Counter<string>, labels: Record<string, string>): void {
    this.#record(metric, labels);
    metric.inc(labels);
  }

  #record(metric: ServiceLabelled, labels: Record<string, string>): void {
    const service = labels.service;
    if (service === undefined || service === UNKNOWN_SERVICE) return;
    let series = this.#seriesByService.get(service);
    if (!series) this.#seriesByService.set(service, series = new Map());
    let labelSets = series.get(metric);
    if (!labelSets) series.set(metric, labelSets = new Map());
    labelSets.set(JSON.stringify(labels), labels);
  }
}
