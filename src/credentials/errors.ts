/**
 * Errors raised while obtaining credentials, classified the way clients need them.
 *
 * @module
 */

/** STS error codes that will not go away by retrying soon: the configuration must change. */
const PERMANENT_CODES = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "ValidationError",
  "MalformedPolicyDocument",
  "PackedPolicyTooLarge",
  "RegionDisabledException",
  "InvalidIdentityToken",
  "IDPRejectedClaim",
]);

/** Codes that mean "slow down"; they get a longer back-off than other failures. */
const THROTTLING_CODES = new Set(["Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"]);

/**
 * A failure to obtain a service's credentials.
 *
 * `code` is the STS error code (or a CredProxy code such as `SourceCredentialsFailed`) and is
 * safe to show to clients; `message` is for logs and never contains a secret.
 */
export class CredentialsError extends Error {
  /** Error code that clients see, such as `AccessDenied` or `Throttling`. */
  readonly code: string;
  /** True when retrying without a configuration change is unlikely to help. */
  readonly permanent: boolean;
  /** True when STS asked the caller to slow down. */
  readonly throttled: boolean;

  constructor(code: string, message: string, options?: ErrorOptions & { permanent?: boolean }) {
    super(message, options);
    this.name = "CredentialsError";
    this.code = code;
    this.permanent = options?.permanent ?? PERMANENT_CODES.has(code);
    this.throttled = THROTTLING_CODES.has(code);
  }
}

/**
 * Turns an error thrown by the AWS SDK (or anything else) into a {@linkcode CredentialsError}.
 *
 * `action` names what was attempted, for example `STS AssumeRole`.
 */
export function toCredentialsError(error: unknown, action: string): CredentialsError {
  if (error instanceof CredentialsError) return error;
  const sdkError = error as { name?: string; Code?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = sdkError?.$metadata?.httpStatusCode;
  let code = sdkError?.Code ?? sdkError?.name ?? "UnknownError";
  if (code === "TimeoutError" || code === "AbortError" || sdkError?.code === "ETIMEDOUT") code = "Timeout";
  if (sdkError?.code === "ECONNREFUSED" || sdkError?.code === "ECONNRESET" || sdkError?.code === "ENOTFOUND") code = "NetworkError";
  if (code === "Error" || code === "UnknownError") code = status && status >= 500 ? "ServiceUnavailable" : "UnknownError";
  const detail = sdkError?.message ? `: ${scrubMessage(sdkError.message)}` : "";
  return new CredentialsError(code, `${action} failed with ${code}${detail}`, { cause: error });
}

/**
 * Removes the values STS quotes back in validation errors (`Value '…' at 'externalId'`),
 * because the value may be an ExternalId, a policy or an MFA code.
 */
export function scrubMessage(message: string): string {
  return message.replace(/Value '(?:[^']|'(?! at '))*' at '/g, "Value (hidden) at '").replace(/\s+/g, " ").trim();
}
