/**
 * Credential shapes shared by source providers, STS and the broker.
 *
 * @module
 */

/** AWS credentials as CredProxy holds them internally. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Present for temporary credentials. */
  sessionToken?: string;
  /** End of validity; absent for long-term keys. */
  expiration?: Date;
}

/** Temporary credentials ready to serve: they always carry a session token and an expiry. */
export interface ServedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  /** ARN of the assumed role, when a role was assumed. */
  roleArn?: string;
  /** 12-digit account ID the credentials belong to, when known. */
  accountId?: string;
}

/** Something that returns fresh credentials each time it is called. */
export type CredentialSource = () => Promise<AwsCredentials>;
