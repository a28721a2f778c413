/**
 * The credentials request, independent of HTTP framing, so the API server and the metadata
 * emulator's in-process mode share one implementation.
 *
 * @module
 */

import { CredentialsError } from "../credentials/errors.ts";
import type { CacheOutcome } from "../credentials/broker.ts";
import type { ServiceRegistry } from "../services/registry.ts";
import { credentialsBody, type CredentialsBody, errorBody, type ErrorBody, statusForCredentialsError } from "./responses.ts";

/** Outcome of one credentials request. */
export interface CredentialsOutcome {
  status: 200 | 400 | 401 | 403 | 503;
  body: CredentialsBody | ErrorBody;
  /** Service the token selected, when it selected one. */
  service?: string;
  /** `hit` or `fetched` on success, `none` otherwise. */
  cache: CacheOutcome | "none";
  /** Why the request failed, for the log line; never contains a secret. */
  reason?: string;
}

/** Message for a request without a token; many SDK versions ignore the `_FILE` variant. */
export const MISSING_TOKEN_MESSAGE =
  "The Authorization header is missing: set AWS_CONTAINER_AUTHORIZATION_TOKEN to the service's token " +
  "(some SDK versions ignore AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)";

/** Message for a token that selects no service; it must not hint at which tokens exist. */
export const INVALID_TOKEN_MESSAGE = "The authorization token is not valid";

/**
 * Finds the service that the `Authorization` header selects and returns its credentials.
 *
 * The header carries the token verbatim, as SDKs send it. A value of the form
 * `Bearer <token>` is also accepted: tokens cannot contain spaces, so the two forms never
 * collide.
 */
export async function resolveCredentials(registry: ServiceRegistry, authorization: string | undefined): Promise<CredentialsOutcome> {
  if (authorization === undefined || authorization.trim() === "") {
    return { status: 401, body: errorBody("MissingAuthorization", MISSING_TOKEN_MESSAGE), cache: "none", reason: "missing token" };
  }

  let service = registry.findByToken(authorization);
  if (!service) {
    const bearer = /^Bearer +([\x21-\x7e]+)$/i.exec(authorization);
    if (bearer) service = registry.findByToken(bearer[1]);
  }
  if (!service) {
    return { status: 401, body: errorBody("InvalidToken", INVALID_TOKEN_MESSAGE), cache: "none", reason: "unknown token" };
  }

  try {
    const { credentials, cache } = await service.broker.get();
    return { status: 200, body: credentialsBody(credentials), service: service.name, cache };
  } catch (error) {
    const failure = error instanceof CredentialsError ? error : new CredentialsError("InternalError", "Unexpected failure", { cause: error });
    return {
      status: statusForCredentialsError(failure),
      body: errorBody(failure.code, `Credentials of service "${service.name}" are unavailable (${failure.code})`),
      service: service.name,
      cache: "none",
      reason: failure.code,
    };
  }
}
