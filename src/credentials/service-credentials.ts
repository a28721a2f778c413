/**
 * How one service's credentials are obtained: source credentials, then STS if needed.
 *
 * @module
 */

import process from "node:process";
import type { AssumedRoleConfig, SourceCredentialsConfig } from "../config/schema.ts";
import { CredentialsError } from "./errors.ts";
import { mintLocalCredentials } from "./local.ts";
import { createSourceCredentials } from "./source.ts";
import { assumeRole, createStsClient, getSessionToken, type StsConnection, type StsObserver } from "./sts.ts";
import type { ServedCredentials } from "./types.ts";

/** Lifetime requested from GetSessionToken for services that serve their own keys. */
export const SESSION_TOKEN_DURATION_SECONDS = 3600;

/** Options of {@linkcode createCredentialFetcher}. */
export interface FetcherOptions {
  serviceName: string;
  source: SourceCredentialsConfig;
  role?: AssumedRoleConfig;
  requestTimeoutMs: number;
  /** Environment for `AWS_REGION`, `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL`. */
  env?: Record<string, string | undefined>;
  now?: () => number;
  /** Told about clock skew and role-chaining retries, for logs and metrics. */
  observer?: StsObserver;
}

/** A function that obtains fresh credentials for one service. */
export type CredentialFetcher = () => Promise<ServedCredentials>;

/**
 * Builds the function that fetches a service's credentials.
 *
 * - With `assumed_role`: AssumeRole signed by the source credentials.
 * - Without it, local source: freshly minted credentials, no AWS call.
 * - Without it, temporary source credentials with a known expiry: served as they are.
 * - Without it, long-term keys: exchanged with GetSessionToken, because long-term keys are
 *   never handed to applications.
 */
export function createCredentialFetcher(options: FetcherOptions): CredentialFetcher {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const { source, role } = options;

  if (source.local && !role) {
    const local = source.local;
    return () => Promise.resolve(mintLocalCredentials({ accountId: local.account_id, durationSeconds: local.duration_seconds, now: now() }));
  }

  const sourceCredentials = createSourceCredentials(source, now);
  const client = createStsClient({
    region: resolveRegion(source, env),
    endpoint: resolveStsEndpoint(source, env),
    credentials: sourceCredentials,
    requestTimeoutMs: options.requestTimeoutMs,
  });

  const connection: StsConnection = { client, requestTimeoutMs: options.requestTimeoutMs, observer: options.observer };

  if (role) {
    const sessionName = role.RoleSessionName ?? deriveSessionName(options.serviceName);
    let durationSeconds = role.DurationSeconds;
    const roleConnection: StsConnection = {
      ...connection,
      observer: {
        ...options.observer,
        onDurationCapped(event) {
          // Once STS has refused the longer duration (role chaining), asking for it again on
          // every refresh would only double the calls.
          durationSeconds = event.grantedSeconds;
          options.observer?.onDurationCapped?.(event);
        },
      },
    };
    return () => assumeRole(roleConnection, role, sessionName, durationSeconds);
  }

  return async () => {
    const credentials = await sourceCredentials();
    if (!credentials.sessionToken) return await getSessionToken(connection, SESSION_TOKEN_DURATION_SECONDS);
    if (!credentials.expiration) {
      throw new CredentialsError(
        "UnknownExpiration",
        `The source credentials of service "${options.serviceName}" are temporary but have no expiry; configure assumed_role for this service`,
        { permanent: true },
      );
    }
    return {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
      expiration: credentials.expiration,
    };
  };
}

/** Region for STS: the service's, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1. */
export function resolveRegion(source: SourceCredentialsConfig, env: Record<string, string | undefined>): string {
  return source.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
}

/**
 * STS endpoint: the service's `sts_endpoint`, else `AWS_ENDPOINT_URL_STS`, else
 * `AWS_ENDPOINT_URL`, else undefined so the SDK uses the region's endpoint.
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` turns the two variables off, as in the SDKs.
 */
export function resolveStsEndpoint(source: SourceCredentialsConfig, env: Record<string, string | undefined>): string | undefined {
  if (source.sts_endpoint) return source.sts_endpoint;
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() === "true") return undefined;
  return env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || undefined;
}

/**
 * Derives a RoleSessionName from a service name: `credproxy-` and the name, with every
 * character STS rejects replaced by `-`, cut to STS's 64-character limit.
 */
export function deriveSessionName(serviceName: string): string {
  return `credproxy-${serviceName}`.replace(/[^\w+=,.@-]/g, "-").slice(0, 64);
}
