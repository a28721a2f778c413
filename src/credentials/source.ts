/**
 * Source credentials: what CredProxy signs its STS calls with, per service.
 *
 * Profiles go through the AWS SDK's own `fromIni`, so SSO, `credential_process` and
 * role-chaining profiles behave exactly as they do for the AWS CLI.
 *
 * @module
 */

import { fromIni, fromNodeProviderChain } from "@aws-sdk/credential-providers";
import type { SourceCredentialsConfig } from "../config/schema.ts";
import { toCredentialsError } from "./errors.ts";
import { mintLocalCredentials } from "./local.ts";
import type { AwsCredentials, CredentialSource } from "./types.ts";

/** Kind of source credentials, for logs and the readiness view. */
export type SourceKind = "keys" | "profile" | "local" | "default-chain";

/** Returns which kind of source credentials a service uses. */
export function sourceKind(source: SourceCredentialsConfig): SourceKind {
  if (source.iam_keys) return "keys";
  if (source.iam_profile) return "profile";
  if (source.local) return "local";
  return "default-chain";
}

/**
 * Builds the provider of a service's source credentials.
 *
 * With no kind configured this is the SDK's default chain (environment, shared files, SSO,
 * web identity, container and instance metadata).
 */
export function createSourceCredentials(source: SourceCredentialsConfig, now: () => number): CredentialSource {
  const kind = sourceKind(source);
  const provider = kind === "keys"
    ? staticKeys(source)
    : kind === "profile"
    ? fromIni({
      profile: source.iam_profile!.profile_name,
      configFilepath: source.iam_profile!.config_file,
      filepath: source.iam_profile!.credentials_file,
      // A profile file edited while CredProxy runs is read again on the next refresh.
      ignoreCache: true,
    })
    : kind === "local"
    ? () => Promise.resolve(mintLocalCredentials({ accountId: source.local!.account_id, durationSeconds: source.local!.duration_seconds, now: now() }))
    : fromNodeProviderChain();

  return async () => {
    try {
      const credentials = await provider();
      return {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        sessionToken: credentials.sessionToken,
        expiration: credentials.expiration,
      };
    } catch (error) {
      throw toCredentialsError(error, `Loading source credentials (${describeSource(source)})`);
    }
  };
}

function staticKeys(source: SourceCredentialsConfig): () => Promise<AwsCredentials> {
  const keys = source.iam_keys!;
  const credentials: AwsCredentials = {
    accessKeyId: keys.aws_access_key_id,
    secretAccessKey: keys.aws_secret_access_key,
    sessionToken: keys.session_token,
  };
  return () => Promise.resolve(credentials);
}

/** Describes a source for logs without any secret: the kind, and the profile name if any. */
export function describeSource(source: SourceCredentialsConfig): string {
  const kind = sourceKind(source);
  return kind === "profile" ? `profile "${source.iam_profile!.profile_name}"` : kind;
}
