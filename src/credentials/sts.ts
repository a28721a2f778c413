/**
 * STS calls: AssumeRole and GetSessionToken, on the region's endpoint or a configured one.
 *
 * Each call is one attempt, bounded by the request timeout, with two exceptions that STS's
 * own errors call for. A call rejected because the local clock is off is signed again with
 * the server's time. An AssumeRole rejected for requesting more than one hour while
 * chaining roles is made again at 3600 seconds.
 *
 * @module
 */

import { AssumeRoleCommand, GetSessionTokenCommand, STSClient } from "@aws-sdk/client-sts";
import type { AssumedRoleConfig } from "../config/schema.ts";
import { CredentialsError, toCredentialsError } from "./errors.ts";
import type { CredentialSource, ServedCredentials } from "./types.ts";

/** Maximum DurationSeconds STS allows when the caller's credentials are themselves temporary. */
export const ROLE_CHAINING_MAX_SECONDS = 3600;

/** Options of {@linkcode createStsClient}. */
export interface StsClientOptions {
  region: string;
  /** Endpoint URL. When absent, the SDK uses the region's endpoint. */
  endpoint?: string;
  /** Credentials that sign the STS calls. */
  credentials: CredentialSource;
  /** Timeout of one STS call, in milliseconds. */
  requestTimeoutMs: number;
}

/** Clock difference STS reported, after which the call was signed again. */
export interface ClockSkewEvent {
  /** STS action that was rejected, such as `AssumeRole`. */
  action: string;
  /** Server time minus local time, in milliseconds. Positive when the local clock is behind. */
  skewMs: number;
  /** Error code with which STS rejected the first attempt. */
  errorCode: string;
}

/** AssumeRole that STS rejected for its duration and that was made again at 3600 seconds. */
export interface DurationCappedEvent {
  roleArn: string;
  requestedSeconds: number;
  grantedSeconds: number;
}

/** Callbacks for the retries that STS errors trigger, used by logs and metrics. */
export interface StsObserver {
  onClockSkew?: (event: ClockSkewEvent) => void;
  onDurationCapped?: (event: DurationCappedEvent) => void;
}

/** STS client with the settings that every call through it shares. */
export interface StsConnection {
  client: STSClient;
  requestTimeoutMs: number;
  observer?: StsObserver;
}

/**
 * Builds an STS client that makes one attempt per call.
 *
 * The SDK's own retries are off because the credential broker retries with its own back-off
 * and keeps serving cached credentials meanwhile. SDK retries would only hide the failure.
 */
export function createStsClient(options: StsClientOptions): STSClient {
  return new STSClient({
    region: options.region,
    endpoint: options.endpoint,
    credentials: async () => await options.credentials(),
    maxAttempts: 1,
    requestHandler: {
      requestTimeout: options.requestTimeoutMs,
      connectionTimeout: options.requestTimeoutMs,
      // Without this the handler only logs a warning when the timeout passes and keeps
      // waiting, so a stalled STS would hold the broker's single fetch forever.
      throwOnRequestTimeout: true,
    },
  });
}

/** Calls STS AssumeRole with every parameter the service configures. */
export async function assumeRole(
  connection: StsConnection,
  role: AssumedRoleConfig,
  sessionName: string,
  durationSeconds = role.DurationSeconds,
): Promise<ServedCredentials> {
  const input = {
    RoleArn: role.RoleArn,
    RoleSessionName: sessionName,
    DurationSeconds: durationSeconds,
    ExternalId: role.ExternalId,
    Policy: typeof role.Policy === "object" ? JSON.stringify(role.Policy) : role.Policy,
    PolicyArns: role.PolicyArns?.map((item) => ({ arn: typeof item === "string" ? item : item.arn })),
    Tags: role.Tags,
    TransitiveTagKeys: role.TransitiveTagKeys,
    SourceIdentity: role.SourceIdentity,
    SerialNumber: role.SerialNumber,
    TokenCode: role.TokenCode,
  };

  let output;
  try {
    output = await send(connection, "AssumeRole", (abortSignal) => connection.client.send(new AssumeRoleCommand(input), { abortSignal }));
  } catch (error) {
    if (!(durationSeconds > ROLE_CHAINING_MAX_SECONDS && isRoleChainingLimit(error))) {
      throw toCredentialsError(error, `STS AssumeRole of ${role.RoleArn}`);
    }
    connection.observer?.onDurationCapped?.({
      roleArn: role.RoleArn,
      requestedSeconds: durationSeconds,
      grantedSeconds: ROLE_CHAINING_MAX_SECONDS,
    });
    return await assumeRole(connection, role, sessionName, ROLE_CHAINING_MAX_SECONDS);
  }

  const credentials = output.Credentials;
  if (!credentials?.AccessKeyId || !credentials.SecretAccessKey || !credentials.SessionToken || !credentials.Expiration) {
    throw new CredentialsError("InvalidStsResponse", `STS AssumeRole of ${role.RoleArn} returned incomplete credentials`);
  }
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    sessionToken: credentials.SessionToken,
    // Uses the Expiration STS returned, never the requested duration, because STS may grant less.
    expiration: credentials.Expiration,
    roleArn: role.RoleArn,
    accountId: role.RoleArn.split(":")[4],
  };
}

/** Exchanges long-term keys for a session with STS GetSessionToken. */
export async function getSessionToken(connection: StsConnection, durationSeconds: number): Promise<ServedCredentials> {
  let output;
  try {
    output = await send(
      connection,
      "GetSessionToken",
      (abortSignal) => connection.client.send(new GetSessionTokenCommand({ DurationSeconds: durationSeconds }), { abortSignal }),
    );
  } catch (error) {
    throw toCredentialsError(error, "STS GetSessionToken");
  }
  const credentials = output.Credentials;
  if (!credentials?.AccessKeyId || !credentials.SecretAccessKey || !credentials.SessionToken || !credentials.Expiration) {
    throw new CredentialsError("InvalidStsResponse", "STS GetSessionToken returned incomplete credentials");
  }
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    sessionToken: credentials.SessionToken,
    expiration: credentials.Expiration,
  };
}

/**
 * Makes one STS call, bounded by the request timeout. When STS rejects it because the
 * signing time is off, makes it once more, signed with the server's clock.
 */
async function send<T>(connection: StsConnection, action: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const { client, requestTimeoutMs } = connection;
  try {
    return await call(AbortSignal.timeout(requestTimeoutMs));
  } catch (error) {
    const skewMs = clockSkewOf(error);
    if (skewMs === undefined) throw error;
    // The SDK reads this offset when it signs. Setting it makes the retry independent of
    // whether the SDK already corrected itself from the same response.
    (client.config as { systemClockOffset?: number }).systemClockOffset = skewMs;
    connection.observer?.onClockSkew?.({ action, skewMs, errorCode: errorCodeOf(error) });
    return await call(AbortSignal.timeout(requestTimeoutMs));
  }
}

/** Error codes STS and other AWS services return when the signing time is too far from theirs. */
const CLOCK_SKEW_CODES = new Set(["RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture", "InvalidSignatureException"]);

/**
 * Returns the server's time minus ours when `error` reports that the request was signed at a
 * time STS does not accept and the response carries a `Date` header. Returns undefined
 * otherwise.
 */
export function clockSkewOf(error: unknown, now = Date.now()): number | undefined {
  const code = errorCodeOf(error);
  const message = String((error as { message?: unknown })?.message ?? "");
  // SignatureDoesNotMatch also means a wrong secret key, so only its time variants count.
  const timeRelated = CLOCK_SKEW_CODES.has(code) ||
    (code === "SignatureDoesNotMatch" && /Signature expired|Signature not yet current/i.test(message));
  if (!timeRelated) return undefined;
  const headers = (error as { $response?: { headers?: Record<string, string> } })?.$response?.headers ?? {};
  const date = Object.entries(headers).find(([name]) => name.toLowerCase() === "date")?.[1];
  const serverTime = date ? Date.parse(date) : NaN;
  return Number.isNaN(serverTime) ? undefined : serverTime - now;
}

/**
 * Reports whether `error` is the ValidationError STS returns when DurationSeconds is above
 * one hour and the caller's credentials are temporary.
 */
function isRoleChainingLimit(error: unknown): boolean {
  const message = String((error as { message?: unknown })?.message ?? "");
  return errorCodeOf(error) === "ValidationError" && /role chaining/i.test(message);
}

function errorCodeOf(error: unknown): string {
  const sdkError = error as { Code?: string; name?: string };
  return sdkError?.Code ?? sdkError?.name ?? "";
}
