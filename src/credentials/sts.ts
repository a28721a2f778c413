/**
 * STS calls: AssumeRole and GetSessionToken, on the region's endpoint or a configured one.
 *
 * @module
 */

import { AssumeRoleCommand, GetSessionTokenCommand, STSClient } from "@aws-sdk/client-sts";
import type { AssumedRoleConfig } from "../config/schema.ts";
import { CredentialsError, toCredentialsError } from "./errors.ts";
import type { CredentialSource, ServedCredentials } from "./types.ts";

/** Options of {@linkcode createStsClient}. */
export interface StsClientOptions {
  region: string;
  /** Endpoint URL; the SDK's regional endpoint when absent. */
  endpoint?: string;
  /** Credentials that sign the STS calls. */
  credentials: CredentialSource;
  /** Bound on one STS call, in milliseconds. */
  requestTimeoutMs: number;
}

/**
 * Builds an STS client that makes one attempt per call.
 *
 * The SDK's own retries are off because the credential broker retries with its own back-off
 * and keeps serving cached credentials meanwhile; SDK retries would only hide the failure.
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
    },
  });
}

/** Calls STS AssumeRole with every parameter the service configures. */
export async function assumeRole(
  client: STSClient,
  role: AssumedRoleConfig,
  sessionName: string,
  durationSeconds = role.DurationSeconds,
): Promise<ServedCredentials> {
  const command = new AssumeRoleCommand({
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
  });

  let output;
  try {
    output = await client.send(command);
  } catch (error) {
    throw toCredentialsError(error, `STS AssumeRole of ${role.RoleArn}`);
  }
  const credentials = output.Credentials;
  if (!credentials?.AccessKeyId || !credentials.SecretAccessKey || !credentials.SessionToken || !credentials.Expiration) {
    throw new CredentialsError("InvalidStsResponse", `STS AssumeRole of ${role.RoleArn} returned incomplete credentials`);
  }
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    sessionToken: credentials.SessionToken,
    expiration: credentials.Expiration,
    roleArn: role.RoleArn,
    accountId: role.RoleArn.split(":")[4],
  };
}

/** Exchanges long-term keys for a session with STS GetSessionToken. */
export async function getSessionToken(client: STSClient, durationSeconds: number): Promise<ServedCredentials> {
  let output;
  try {
    output = await client.send(new GetSessionTokenCommand({ DurationSeconds: durationSeconds }));
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
