/**
 * Response bodies in the exact shapes AWS SDKs parse.
 *
 * @module
 */

import type { CredentialsError } from "../credentials/errors.ts";
import type { ServedCredentials } from "../credentials/types.ts";

/** Body of a successful credentials response, keys spelled as the container credential protocol spells them. */
export interface CredentialsBody {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
  RoleArn?: string;
  AccountId?: string;
}

/**
 * Formats an expiry as `YYYY-MM-DDTHH:MM:SSZ`.
 *
 * The JavaScript SDK rejects anything but a literal `Z`, so no offset; milliseconds are cut
 * (rounding down keeps the promise conservative).
 */
export function formatExpiration(expiration: Date): string {
  return expiration.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Builds the body of a 200 response. */
export function credentialsBody(credentials: ServedCredentials): CredentialsBody {
  const body: CredentialsBody = {
    AccessKeyId: credentials.accessKeyId,
    SecretAccessKey: credentials.secretAccessKey,
    Token: credentials.sessionToken,
    Expiration: formatExpiration(credentials.expiration),
  };
  if (credentials.roleArn) body.RoleArn = credentials.roleArn;
  if (credentials.accountId) body.AccountId = credentials.accountId;
  return body;
}

/**
 * Body of an error response.
 *
 * The JavaScript SDK reads `Code` and `Message`; Go and Rust read `code` and `message`
 * (Go's JSON decoding ignores case, Rust's does not), so both spellings are sent.
 */
export interface ErrorBody {
  Code: string;
  Message: string;
  code: string;
  message: string;
}

/** Builds an error body with both spellings of each key. */
export function errorBody(code: string, message: string): ErrorBody {
  return { Code: code, Message: message, code, message };
}

/** Error codes that mean STS refused the source credentials or the role. */
const REFUSED_CODES = new Set(["AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException"]);

/**
 * Chooses the status of a credentials failure: 403 when STS refused the source credentials
 * or the role, 400 for other configuration errors, 503 for failures that retrying can fix
 * (Go and Rust SDKs retry 5xx).
 */
export function statusForCredentialsError(error: CredentialsError): 400 | 403 | 503 {
  if (REFUSED_CODES.has(error.code)) return 403;
  if (error.permanent) return 400;
  return 503;
}
