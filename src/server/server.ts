/**
 * A running CredProxy: its services, their brokers and the API listener.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Config } from "../config/schema.ts";
import type { Clock } from "../credentials/broker.ts";
import type { SecretRedactor } from "../observability/redactor.ts";
import { type Listener, listen } from "../runtime/runtime.ts";
import { buildService } from "../services/build.ts";
import { ServiceRegistry } from "../services/registry.ts";
import { createApp } from "./app.ts";
import { isLoopbackHost } from "./addresses.ts";

/** Options of {@linkcode startCredProxy}. */
export interface StartOptions {
  config: Config;
  /** Environment used for region and endpoint variables. @default the process environment */
  env?: Record<string, string | undefined>;
  clock?: Clock;
  redactor?: SecretRedactor;
  /** Wait for every service's first fetch before listening. @default true */
  warmBeforeListening?: boolean;
}

/** A running CredProxy. */
export interface RunningCredProxy {
  readonly registry: ServiceRegistry;
  readonly listener: Listener;
  /** Base URL of the API, such as `http://127.0.0.1:1338`. */
  readonly url: string;
  /** Stops listening (letting requests in flight finish, at most `graceMs`) and stops every broker. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Builds every configured service, fetches their credentials and starts the API listener.
 *
 * A service whose first fetch fails does not stop start-up: it answers 503 and keeps
 * retrying, while the other services are served.
 */
export async function startCredProxy(options: StartOptions): Promise<RunningCredProxy> {
  const logger = getLogger(["credproxy", "server"]);
  const { config } = options;
  const registry = new ServiceRegistry({
    tokenOverlapSeconds: config.credentials.token_overlap_seconds,
    now: options.clock ? () => options.clock!.now() : undefined,
  });
  for (const [name, service] of Object.entries(config.services)) {
    registry.set(buildService(name, service, { config, clock: options.clock, env: options.env, redactor: options.redactor }), service.auth_token);
  }

  const warming = Promise.all(registry.list().map((service) => service.broker.start()));
  if (options.warmBeforeListening ?? true) await warming;

  const app = createApp({ registry, logHealthChecks: config.server.log_health_checks });
  const { host, port } = config.server;
  if (!isLoopbackHost(host)) {
    logger.warn("Listening on {host}, which is not a loopback address: anything that can reach it can try tokens", { host });
  }

  let listener: Listener;
  try {
    listener = await listen({ hostname: host, port }, (request, info) => app.fetch(request, { remoteAddress: info.remoteAddress }));
  } catch (error) {
    registry.clear();
    throw error;
  }
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${listener.port}`;
  logger.info("Serving {count} services at {url}", { count: registry.size, url });

  return {
    registry,
    listener,
    url,
    async close(graceMs = 10_000) {
      await listener.close(graceMs);
      registry.clear();
      logger.info("Stopped serving at {url}", { url });
    },
  };
}
