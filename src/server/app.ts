/**
 * The Hono application of CredProxy's API: `/v1/credentials` and `/health`.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { Hono } from "hono";
import type { Clock } from "../credentials/broker.ts";
import type { RequestObservation } from "../observability/metrics.ts";
import type { ServiceRegistry } from "../services/registry.ts";
import { resolveCredentials } from "./credentials-handler.ts";
import { READY_PATH, readiness } from "./readiness.ts";
import { errorBody } from "./responses.ts";

/** Path that SDKs call for credentials by default. */
export const CREDENTIALS_PATH = "/v1/credentials";

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  registry: ServiceRegistry;
  /** Log `/health` requests too; they are frequent and usually noise. @default false */
  logHealthChecks?: boolean;
  /** Called after every request, such as to count it in metrics. */
  onRequest?: (request: RequestObservation) => void;
  /** Clock of the brokers, for the expiry times in the readiness view. */
  clock?: Clock;
}

/** Values handlers leave for the request log. */
type Variables = { service?: string; cache?: string; reason?: string };

/**
 * Builds the API application.
 *
 * @example
 * ```ts
 * const app = createApp({ registry });
 * const response = await app.request("/health");
 * ```
 */
export function createApp(options: AppOptions): Hono<{ Variables: Variables }> {
  const { registry } = options;
  const logHealthChecks = options.logHealthChecks ?? false;
  const requestLogger = getLogger(["credproxy", "http"]);
  const app = new Hono<{ Variables: Variables }>();

  app.use(async function logRequest(c, next) {
    const started = performance.now();
    await next();
    setSecurityHeaders(c.res.headers);
    // The route, not the raw path: raw paths are attacker-chosen and unbounded.
    const route = c.req.routePath === "/*" ? "(unmatched)" : c.req.routePath;
    const latencyMs = Math.round((performance.now() - started) * 100) / 100;
    options.onRequest?.({ route, status: c.res.status, service: c.get("service"), cache: c.get("cache"), latencyMs });
    if ((c.req.path === "/health" || c.req.path === READY_PATH) && !logHealthChecks) return;
    requestLogger.info("{method} {path} {status}", {
      method: c.req.method,
      path: route,
      status: c.res.status,
      service: c.get("service"),
      cache: c.get("cache"),
      reason: c.get("reason"),
      latencyMs,
    });
  });

  app.get(CREDENTIALS_PATH, async function serveCredentials(c) {
    const outcome = await resolveCredentials(registry, c.req.header("authorization"));
    c.set("service", outcome.service);
    c.set("cache", outcome.cache);
    c.set("reason", outcome.reason);
    if (outcome.status === 503) c.header("Retry-After", "1");
    return c.json(outcome.body, outcome.status);
  });

  app.get("/health", function serveHealth(c) {
    return c.json({ status: "ok", services: registry.size });
  });

  app.get(READY_PATH, function serveReadiness(c) {
    const view = readiness(registry, options.clock);
    return c.json(view, view.status === "ready" ? 200 : 503);
  });

  app.all(CREDENTIALS_PATH, methodNotAllowed);
  app.all("/health", methodNotAllowed);
  app.all(READY_PATH, methodNotAllowed);

  app.notFound((c) => c.json(errorBody("NotFound", "No such route; credentials are served at /v1/credentials"), 404));

  app.onError(function internalError(error, c) {
    getLogger(["credproxy", "http"]).error("Request failed: {error}", { error, path: c.req.routePath });
    return c.json(errorBody("InternalError", "Internal error; see the CredProxy log"), 500);
  });

  return app;
}

function methodNotAllowed(c: { header: (name: string, value: string) => void; json: (body: unknown, status: 405) => Response }) {
  c.header("Allow", "GET, HEAD");
  return c.json(errorBody("MethodNotAllowed", "Only GET and HEAD are allowed here"), 405);
}

/** Headers on every response: credentials must never be cached or sniffed as another type. */
function setSecurityHeaders(headers: Headers): void {
  headers.set("Cache-Control", "no-store");
  headers.set("X-Content-Type-Options", "nosniff");
  headers.set("X-Frame-Options", "DENY");
  headers.set("Referrer-Policy", "no-referrer");
}
