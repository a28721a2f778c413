/**
 * Sources of the metadata endpoint's responses: CredProxy in the same process, or from
 * an upstream CredProxy over HTTP (see `upstream.ts`).
 *
 * @module
 */

import { CREDENTIALS_PATH } from "../server/app.ts";
import { INVALID_TOKEN_MESSAGE, resolveCredentials } from "../server/credentials-handler.ts";
import { errorBody } from "../server/responses.ts";
import type { ServiceRegistry } from "../services/registry.ts";

/** A credentials request as the endpoint passes it on. */
export interface ForwardedRequest {
  /** The route that matched: `/v1/credentials` or a configured path. */
  path: string;
  /** The `Authorization` header, verbatim. */
  authorization: string | undefined;
  /** Every request header, for forwarders that pass end-to-end headers on. */
  headers: Headers;
}

/** A response to send back to the SDK as JSON. */
export interface ForwardedResponse {
  status: number;
  body: unknown;
  /** End-to-end headers to copy onto the response, such as `Retry-After`. */
  headers?: Record<string, string>;
  /** Service the token selected, for the request log. */
  service?: string;
  /** Cache outcome, for the request log. */
  cache?: string;
  /** Reason the request failed, for the request log. It never contains a secret. */
  reason?: string;
}

/** The metadata endpoint's source of credentials and health. */
export interface MetadataForwarder {
  /** `in-process` or `upstream`, shown in `/health` and logs. */
  readonly mode: "in-process" | "upstream";
  /** Paths besides `/v1/credentials` that serve credentials. */
  readonly credentialPaths: readonly string[];
  credentials(request: ForwardedRequest): Promise<ForwardedResponse>;
  /** Returns the response to `GET /health`: 200 with `{"status": "ok"}` when credentials can be served. */
  health(): Promise<ForwardedResponse>;
}

/**
 * Creates a forwarder that calls the credential handler directly: no HTTP hop, one token
 * check, one cache.
 *
 * A configured path serves only the services that list it in `metadata_paths`. A token of
 * another service gets the same 401 as an unknown token there, so a path does not reveal
 * which services exist.
 */
export function createInProcessForwarder(
  registry: ServiceRegistry,
  servicePaths?: Readonly<Record<string, readonly string[] | undefined>>,
): MetadataForwarder {
  // Without fixed paths, each service's own paths come from the registry, rebuilt when the
  // registry changes, so services that dynamic files or a reload add are served on theirs.
  let cached: { version: number; servicesByPath: Map<string, Set<string>>; paths: string[] } | undefined;
  const current = () => {
    if (cached && (servicePaths || cached.version === registry.version)) return cached;
    const servicesByPath = buildServicesByPath();
    cached = { version: registry.version, servicesByPath, paths: [...servicesByPath.keys()] };
    return cached;
  };
  const buildServicesByPath = (): Map<string, Set<string>> => {
    const entries = servicePaths
      ? Object.entries(servicePaths)
      : registry.list().map((service) => [service.name, service.metadataPaths] as const);
    const servicesByPath = new Map<string, Set<string>>();
    for (const [service, paths] of entries) {
      for (const path of paths ?? []) {
        if (path === CREDENTIALS_PATH) continue;
        const services = servicesByPath.get(path) ?? new Set<string>();
        services.add(service);
        servicesByPath.set(path, services);
      }
    }
    return servicesByPath;
  };

  return {
    mode: "in-process",
    get credentialPaths() {
      return current().paths;
    },
    async credentials(request) {
      const outcome = await resolveCredentials(registry, request.authorization);
      const allowed = current().servicesByPath.get(request.path);
      if (allowed && outcome.service !== undefined && !allowed.has(outcome.service)) {
        return {
          status: 401,
          body: errorBody("InvalidToken", INVALID_TOKEN_MESSAGE),
          cache: "none",
          reason: "service not served on this path",
        };
      }
      return {
        status: outcome.status,
        body: outcome.body,
        headers: outcome.status === 503 ? { "Retry-After": "1" } : undefined,
        service: outcome.service,
        cache: outcome.cache,
        reason: outcome.reason,
      };
    },
    // deno-lint-ignore require-await
    async health() {
      return { status: 200, body: { status: "ok", mode: "in-process", services: registry.size } };
    },
  };
}
