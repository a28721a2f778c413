/**
 * The valibot schema of CredProxy's configuration file.
 *
 * Keys keep the spelling of the original Python CredProxy (`snake_case` for CredProxy's own
 * settings, STS's `PascalCase` inside `assumed_role`) so existing files load unchanged.
 * Messages never include the rejected value, because that value may be a secret.
 *
 * @module
 */

import * as v from "valibot";
import { MetadataPathSchema, MetadataSchema } from "../metadata/config-schema.ts";

/** Minimum length of a service's authorization token, in characters. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Default seconds a replaced token keeps working: clients such as botocore read a token
 * file once, so they need time to be restarted with the new token.
 */
export const DEFAULT_TOKEN_OVERLAP_SECONDS = 3600;

/** Default seconds of validity that every served credential still has left. */
export const DEFAULT_REFRESH_BUFFER_SECONDS = 1200;

/**
 * A string field. YAML turns unquoted `012345670123` into a number and `true` into a
 * boolean. The message explains how to keep the intended text, instead of accepting a wrong value.
 */
function text(what: string) {
  return v.string((issue) =>
    typeof issue.input === "number" || typeof issue.input === "boolean"
      ? `must be a string, but YAML read a ${typeof issue.input}: put the value in quotes`
      : `must be ${what}`
  );
}

function integerBetween(min: number, max: number, unit: string) {
  const message = unit === "port" ? `must be a port number from ${min} to ${max}` : `must be a whole number of ${unit} from ${min} to ${max}`;
  return v.pipe(
    v.number(message),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );
}

const flag = v.boolean("must be true or false");

// Every partition: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc.
const PARTITION = "aws(?:-[a-z]+)*";

/** IAM role ARN, in any partition, with an optional path. */
export const ROLE_ARN = new RegExp(`^arn:${PARTITION}:iam::\\d{12}:role/(?:[\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$`);

const POLICY_ARN = new RegExp(`^arn:${PARTITION}:iam::(?:aws|\\d{12}):policy/(?:[\\w+=,.@-]+/)*[\\w+=,.@-]{1,128}$`);

/** AWS region name such as `us-east-1`, `cn-north-1`, `us-gov-west-1` or `us-isob-east-1`. */
export const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;

/** Characters STS allows in RoleSessionName and SourceIdentity. */
export const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

const region = v.pipe(text("an AWS region name"), v.regex(REGION, "must be an AWS region name such as us-east-1"));

const stsEndpoint = v.pipe(
  text("an http or https URL"),
  v.url("must be an http or https URL such as https://sts.us-east-1.amazonaws.com"),
  v.regex(/^https?:\/\//, "must be an http or https URL such as https://sts.us-east-1.amazonaws.com"),
);

/** Visible ASCII (0x21 to 0x7E): a CR, LF or space in a token breaks SDKs' header handling. */
const authToken = v.pipe(
  text(`a token of at least ${MIN_TOKEN_LENGTH} visible ASCII characters`),
  v.regex(/^[\x21-\x7e]*$/, "must contain only visible ASCII characters (no spaces, tabs or newlines)"),
  v.minLength(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters long`),
  v.maxLength(4096, "must be at most 4096 characters long"),
);

const iamProfile = v.strictObject({
  profile_name: v.pipe(text("a profile name"), v.nonEmpty("must not be empty")),
  config_file: v.optional(v.pipe(text("a file path"), v.nonEmpty("must not be empty"))),
  credentials_file: v.optional(v.pipe(text("a file path"), v.nonEmpty("must not be empty"))),
});

const iamKeys = v.strictObject({
  aws_access_key_id: v.pipe(
    text("an access key ID"),
    v.regex(/^[A-Z0-9]{16,128}$/, "must be an access key ID such as AKIAIOSFODNN7EXAMPLE"),
  ),
  aws_secret_access_key: v.pipe(text("a secret access key"), v.minLength(1, "must not be empty")),
  session_token: v.optional(v.pipe(text("a session token"), v.minLength(1, "must not be empty"))),
});

const localCredentials = v.strictObject({
  account_id: v.optional(
    v.pipe(text("a 12-digit account ID"), v.regex(/^\d{12}$/, "must be a 12-digit account ID in quotes")),
    "000000000000",
  ),
  duration_seconds: v.optional(integerBetween(900, 129_600, "seconds"), 3600),
});

/** Source of a service's credentials, and the STS endpoint it signs its calls for. */
export const SourceCredentialsSchema = v.strictObject({
  region: v.optional(region),
  sts_endpoint: v.optional(stsEndpoint),
  iam_profile: v.optional(iamProfile),
  iam_keys: v.optional(iamKeys),
  local: v.optional(localCredentials),
});

const tag = v.strictObject({
  Key: v.pipe(text("a tag key"), v.minLength(1, "must not be empty"), v.maxLength(128, "must be at most 128 characters")),
  Value: v.pipe(text("a tag value"), v.maxLength(256, "must be at most 256 characters")),
});

const policyArn = v.pipe(text("an IAM policy ARN"), v.regex(POLICY_ARN, "must be an IAM policy ARN"));

/** The parameters of STS AssumeRole, spelled as STS spells them. */
export const AssumedRoleSchema = v.strictObject({
  RoleArn: v.pipe(
    text("an IAM role ARN"),
    v.regex(ROLE_ARN, "must be an IAM role ARN such as arn:aws:iam::123456789012:role/name"),
  ),
  RoleSessionName: v.optional(
    v.pipe(text("a session name"), v.regex(SESSION_NAME, "must be 2 to 64 characters of letters, digits and +=,.@_-")),
  ),
  DurationSeconds: v.optional(integerBetween(900, 43_200, "seconds"), 3600),
  ExternalId: v.optional(
    v.pipe(text("an external ID"), v.regex(/^[\w+=,.@:\/-]{2,1224}$/, "must be 2 to 1224 characters of letters, digits and +=,.@:/_-")),
  ),
  Policy: v.optional(
    v.union([
      v.pipe(text("a JSON policy document"), v.minLength(1, "must not be empty")),
      v.record(v.string(), v.unknown()),
    ], "must be a policy document: a JSON string or a mapping"),
  ),
  PolicyArns: v.optional(
    v.array(v.union([policyArn, v.strictObject({ arn: policyArn })], "must be an IAM policy ARN"), "must be a list of IAM policy ARNs"),
  ),
  Tags: v.optional(v.array(tag, "must be a list of {Key, Value} mappings")),
  TransitiveTagKeys: v.optional(v.array(text("a tag key"), "must be a list of tag keys")),
  SourceIdentity: v.optional(
    v.pipe(text("a source identity"), v.regex(SESSION_NAME, "must be 2 to 64 characters of letters, digits and +=,.@_-")),
  ),
  SerialNumber: v.optional(
    v.pipe(text("an MFA device serial number or ARN"), v.regex(/^[\w+=\/:,.@-]{9,256}$/, "must be an MFA device serial number or ARN")),
  ),
  TokenCode: v.optional(v.pipe(text("a 6-digit MFA code"), v.regex(/^\d{6}$/, "must be a 6-digit MFA code in quotes"))),
});

/** One service: the token that selects it and how its credentials are obtained. */
export const ServiceSchema = v.strictObject({
  auth_token: authToken,
  source_credentials: v.optional(SourceCredentialsSchema),
  assumed_role: v.optional(AssumedRoleSchema),
  /** Paths the metadata endpoint serves this service's credentials on, besides /v1/credentials. */
  metadata_paths: v.optional(v.array(MetadataPathSchema, "must be a list of URL paths")),
});

/** A mapping of service names to services, as in `services` and in dynamic service files. */
export const ServicesSchema = v.record(
  v.pipe(v.string(), v.regex(/^[A-Za-z0-9][\w.-]{0,63}$/, "must be a service name of letters, digits and ._- (at most 64)")),
  ServiceSchema,
  "must be a mapping of service names to services",
);

const ServerSchema = v.strictObject({
  host: v.optional(v.pipe(text("an IP address or host name"), v.nonEmpty("must not be empty")), "127.0.0.1"),
  port: v.optional(integerBetween(0, 65_535, "port"), 1338),
  log_health_checks: v.optional(flag, false),
  // Slow clients: time allowed for a request's headers, after which the connection closes.
  header_timeout_seconds: v.optional(integerBetween(1, 300, "seconds"), 10),
  // Open client connections at most. Each one also uses two sockets inside CredProxy.
  max_connections: v.optional(integerBetween(1, 100_000, "connections"), 512),
  // Whether the connection guard that enforces the two limits above sits in front of the
  // API: "auto" puts it there when the API listens beyond loopback.
  connection_guard: v.optional(v.picklist(["auto", "always", "never"], "must be auto, always or never"), "auto"),
});

const CredentialsSettingsSchema = v.strictObject({
  refresh_buffer_seconds: v.optional(integerBetween(60, 43_200, "seconds"), DEFAULT_REFRESH_BUFFER_SECONDS),
  retry_delay: v.optional(integerBetween(1, 3600, "seconds"), 30),
  request_timeout: v.optional(integerBetween(1, 300, "seconds"), 10),
  // How long a service's previous token keeps working after the token changes; 0 cuts it
  // off at once, which is what a leaked token needs.
  token_overlap_seconds: v.optional(integerBetween(0, 86_400, "seconds"), DEFAULT_TOKEN_OVERLAP_SECONDS),
});

const DynamicServicesSchema = v.strictObject({
  enabled: v.optional(flag, false),
  directories: v.optional(
    v.array(v.strictObject({
      path: v.pipe(text("a directory path"), v.nonEmpty("must not be empty")),
      include_patterns: v.optional(v.array(text("a glob pattern")), ["*.yaml", "*.yml", "*.json"]),
      exclude_patterns: v.optional(v.array(text("a glob pattern")), []),
    })),
    [],
  ),
  reload_interval: v.optional(
    v.pipe(v.number("must be a number of seconds"), v.minValue(0, "must not be negative"), v.maxValue(3600, "must be at most 3600")),
    1,
  ),
});

const MetricsSchema = v.strictObject({
  prometheus: v.optional(
    v.strictObject({
      enabled: v.optional(flag, false),
      host: v.optional(text("an IP address or host name"), "127.0.0.1"),
      port: v.optional(integerBetween(0, 65_535, "port"), 9090),
    }),
    {},
  ),
});

/** The whole configuration file. */
export const ConfigSchema = v.strictObject({
  server: v.optional(ServerSchema, {}),
  credentials: v.optional(CredentialsSettingsSchema, {}),
  aws_defaults: v.optional(SourceCredentialsSchema),
  services: v.optional(ServicesSchema, {}),
  dynamic_services: v.optional(DynamicServicesSchema, {}),
  metrics: v.optional(MetricsSchema, {}),
  metadata: v.optional(MetadataSchema, {}),
}, "must be a mapping");

/** Configuration after validation and defaults. */
export type Config = v.InferOutput<typeof ConfigSchema>;
/** One service's configuration after validation. */
export type ServiceConfig = v.InferOutput<typeof ServiceSchema>;
/** Source credentials after validation. */
export type SourceCredentialsConfig = v.InferOutput<typeof SourceCredentialsSchema>;
/** AssumeRole parameters after validation. */
export type AssumedRoleConfig = v.InferOutput<typeof AssumedRoleSchema>;
