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
import { FailedAuthLimiter } from "./rate-limit.ts";
import { requestLimits, setSecurityHeaders } from "./security.ts";
import { TokenFingerprinter } from "./token-fingerprint.ts";
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
  /** Limits failed authentications per peer. @default a FailedAuthLimiter with its defaults */
  authLimiter?: FailedAuthLimiter;
}

/** Values handlers leave for the request log. */
type Variables = { service?: string; cache?: string; reason?: string; tokenFingerprint?: string };

/** Connection details the server passes with each request: the peer's IP address (empty when unknown). */
export type Bindings = { remoteAddress?: string };

/**
 * Builds the API application.
 *
 * @example
 * ```ts
 * const app = createApp({ registry });
 * const response = await app.request("/health");
 * ```
 */
export function createApp(options: AppOptions): Hono<{ Variables: Variables; Bindings: Bindings }> {
  const { registry } = options;
  const logHealthChecks = options.logHealthChecks ?? false;
  const requestLogger = getLogger(["credproxy", "http"]);
  const authLimiter = options.authLimiter ?? new FailedAuthLimiter();
  const fingerprinter = new TokenFingerprinter();
  const app = new Hono<{ Variables: Variables; Bindings: Bindings }>();

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
      peer: peerOf(c.env),
      tokenFingerprint: c.get("tokenFingerprint"),
      latencyMs,
    });
  });

  app.use(requestLimits());

  app.get(CREDENTIALS_PATH, async function serveCredentials(c) {
    const peer = peerOf(c.env);
    const authorization = c.req.header("authorization");
    const tokenKey = authorization ? fingerprinter.digest(authorization) : undefined;
    const retryAfter = authLimiter.retryAfter(peer, tokenKey);
    if (retryAfter !== undefined) {
      c.set("reason", "too many failed authentications");
      c.header("Retry-After", String(retryAfter));
      return c.json(errorBody("TooManyRequests", "Too many failed authentications from this address; retry later"), 429);
    }

    const outcome = await resolveCredentials(registry, authorization);
    if (outcome.status === 401) {
      // A fingerprint lets the log tie repeated failures to one token without showing any of it.
      if (authorization) c.set("tokenFingerprint", fingerprinter.fingerprint(authorization));
      if (authLimiter.recordFailure(peer)) {
        requestLogger.warn("Peer {peer} made {burst} failed authentications; responding 429 until it slows down", {
          peer,
          burst: authLimiter.burst,
        });
      }
    } else if (outcome.service && tokenKey) {
      authLimiter.recordSuccess(peer, tokenKey);
    }
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

function peerOf(env: Bindings | undefined): string {
  return env?.remoteAddress || "unknown";
}
