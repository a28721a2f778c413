/**
 * The Hono application of the metadata endpoint: the credential routes and `/health`, behind
 * a peer check and a `Host` check. Everything else is 404.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { Hono } from "hono";
import { addressKey } from "../loopback/address.ts";
import { isLoopbackHost } from "../server/addresses.ts";
import { CREDENTIALS_PATH } from "../server/app.ts";
import { errorBody } from "../server/responses.ts";
import type { ForwardedResponse, MetadataForwarder } from "./forwarder.ts";
import { formatHost, type ListenAddress, METADATA_PORT } from "./listen-address.ts";

/** Path of the endpoint's own health check. */
export const HEALTH_PATH = "/health";

/** Connection details that `listen()` passes to the app as Hono's `env`. */
export interface PeerInfo {
  /** The peer's IP address; empty when the runtime cannot tell. */
  remoteAddress: string;
}

/** Options of {@linkcode createMetadataApp}. */
export interface MetadataAppOptions {
  forwarder: MetadataForwarder;
  /** The addresses served: they make up the accepted `Host` values and local peers. */
  listen: readonly ListenAddress[];
  /** Serve peers that are not on this host's loopback. @default false */
  allowNonLoopbackPeers?: boolean;
  /** Log `/health` requests too. @default false */
  logHealthChecks?: boolean;
}

type Variables = { route?: string; service?: string; cache?: string; reason?: string };
type Env = { Bindings: PeerInfo; Variables: Variables };

/**
 * Builds the metadata endpoint's application. Call its `fetch(request, { remoteAddress })`.
 *
 * @example
 * ```ts
 * const app = createMetadataApp({ forwarder, listen: [{ host: "127.0.0.1", port: 80 }] });
 * const response = await app.request("http://127.0.0.1/health", {}, { remoteAddress: "127.0.0.1" });
 * ```
 */
export function createMetadataApp(options: MetadataAppOptions): Hono<Env> {
  const { forwarder } = options;
  const allowNonLoopbackPeers = options.allowNonLoopbackPeers ?? false;
  const logHealthChecks = options.logHealthChecks ?? false;
  const allowedHosts = acceptedHostValues(options.listen);
  const servedAddresses = new Set(options.listen.map((address) => addressKey(address.host)));
  const logger = getLogger(["credproxy", "metadata", "http"]);
  const app = new Hono<Env>();

  app.use(async function logRequest(c, next) {
    const started = performance.now();
    await next();
    setSecurityHeaders(c.res.headers);
    const route = c.get("route");
    if (route === HEALTH_PATH && !logHealthChecks && c.res.status === 200) return;
    logger.info("{method} {path} {status}", {
      method: c.req.method,
      // The route, not the raw path: raw paths are chosen by the caller and unbounded.
      path: route ?? "(unmatched)",
      status: c.res.status,
      service: c.get("service"),
      cache: c.get("cache"),
      reason: c.get("reason"),
      mode: forwarder.mode,
      latencyMs: Math.round((performance.now() - started) * 100) / 100,
    });
  });

  app.use(async function checkPeer(c, next) {
    // Another machine that routes 169.254.170.2 to this host would otherwise get the
    // credentials of every service whose token it can guess or has seen.
    const peer = c.env?.remoteAddress ?? "";
    if (allowNonLoopbackPeers || isLocalPeer(peer, servedAddresses)) return await next();
    c.set("reason", "non-loopback peer");
    return c.json(errorBody("PeerNotAllowed", "The metadata endpoint serves only processes on this host"), 403);
  });

  app.use(async function checkHost(c, next) {
    // DNS rebinding: a web page whose name resolves to 169.254.170.2 or 127.0.0.1 sends its
    // own name as Host, which is never one of the addresses served.
    const host = (c.req.header("host") ?? "").toLowerCase();
    if (allowedHosts.has(host)) return await next();
    c.set("reason", "unexpected Host header");
    return c.json(
      errorBody("InvalidHost", "The Host header must be the address of the metadata endpoint, such as 169.254.170.2"),
      403,
    );
  });

  app.all("*", async function route(c) {
    const path = new URL(c.req.url).pathname;
    // Read per request: the in-process forwarder's paths follow the services it serves.
    const isCredentials = path === CREDENTIALS_PATH || forwarder.credentialPaths.includes(path);
    if (!isCredentials && path !== HEALTH_PATH) {
      return c.json(errorBody("NotFound", "No such route; credentials are served at /v1/credentials"), 404);
    }
    c.set("route", path);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      c.header("Allow", "GET, HEAD");
      return c.json(errorBody("MethodNotAllowed", "Only GET and HEAD are allowed here"), 405);
    }

    const answer = isCredentials
      ? await forwarder.credentials({ path, authorization: c.req.header("authorization"), headers: c.req.raw.headers })
      : await forwarder.health();
    c.set("service", answer.service);
    c.set("cache", answer.cache);
    c.set("reason", answer.reason);
    return respond(answer);
  });

  app.onError(function internalError(error, c) {
    logger.error("Request failed: {error}", { error, path: c.get("route") ?? "(unmatched)" });
    return c.json(errorBody("InternalError", "Internal error; see the CredProxy log"), 500);
  });

  return app;
}

/**
 * Lists the `Host` values a client of these addresses sends: `ADDRESS` on port 80 (SDKs leave the
 * default port out, some tools write it), `ADDRESS:PORT` otherwise, and `localhost` for
 * loopback addresses.
 */
export function acceptedHostValues(listen: readonly ListenAddress[]): Set<string> {
  const hosts = new Set<string>();
  for (const { host, port } of listen) {
    const names = [formatHost(host.toLowerCase())];
    if (isLoopbackHost(host)) names.push("localhost");
    for (const name of names) {
      hosts.add(`${name}:${port}`);
      if (port === METADATA_PORT) hosts.add(name);
    }
  }
  return hosts;
}

/**
 * Returns whether a peer is a process on this host: a loopback address, or one of the addresses
 * served (a local client connecting to 169.254.170.2 on `lo` has that source address).
 */
export function isLocalPeer(peer: string, servedAddresses: ReadonlySet<string | undefined>): boolean {
  if (peer === "") return false;
  const unmapped = peer.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  if (isLoopbackHost(unmapped)) return true;
  const key = addressKey(unmapped);
  return key !== undefined && servedAddresses.has(key);
}

function respond(answer: ForwardedResponse): Response {
  const headers = new Headers(answer.headers);
  headers.set("Content-Type", "application/json");
  return new Response(JSON.stringify(answer.body), { status: answer.status, headers });
}

/** Headers on every response: credentials must never be cached or sniffed as another type. */
function setSecurityHeaders(headers: Headers): void {
  headers.set("Cache-Control", "no-store");
  headers.set("X-Content-Type-Options", "nosniff");
}
