/**
 * Rules that span several fields or services, checked after the schema has passed.
 *
 * @module
 */

import process from "node:process";
import { profileRequirements, readProfiles } from "../credentials/profile-file.ts";
import type { ConfigProblem } from "./errors.ts";
import type { Config, ServiceConfig, SourceCredentialsConfig } from "./schema.ts";

/** Seconds between the refresh buffer and a credential's end that a refresh needs at least. */
export const MIN_REFRESH_WINDOW_SECONDS = 120;

/**
 * Checks rules between fields: one source kind per service, unique tokens, durations that
 * leave room for refreshing, MFA that a server can complete.
 *
 * Returns the problems found; pushes advice that does not stop loading onto `warnings`.
 */
export function checkServices(config: Config, warnings: string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (config.aws_defaults) checkSourceKinds(config.aws_defaults, "aws_defaults", problems);
  problems.push(...checkServiceMap(config, config.services, "services", warnings));
  return problems;
}

/**
 * Checks one mapping of services (the config's own, or a dynamic service file's) against
 * the main config's `aws_defaults` and refresh buffer; problem paths start with `prefix`.
 *
 * Tokens must be unique within the mapping; uniqueness across files is the caller's job.
 */
export function checkServiceMap(
  config: Config,
  services: Record<string, ServiceConfig>,
  prefix: string,
  warnings: string[],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const buffer = config.credentials.refresh_buffer_seconds;
  const tokenOwners = new Map<string, string>();
  for (const [name, service] of Object.entries(services)) {
    const path = `${prefix}.${name}`;
    const owner = tokenOwners.get(service.auth_token);
    if (owner !== undefined) {
      problems.push({
        path: `${path}.auth_token`,
        message: `is the same token as ${prefix}.${owner}.auth_token; every service needs its own token`,
      });
    } else {
      tokenOwners.set(service.auth_token, name);
    }

    if (service.source_credentials) checkSourceKinds(service.source_credentials, `${path}.source_credentials`, problems);
    checkService(path, service, effectiveSource(config, service), buffer, problems, warnings);
  }
  return problems;
}

/** Merges `aws_defaults` under a service's own source credentials; the service's fields win. */
export function effectiveSource(config: Config, service: ServiceConfig): SourceCredentialsConfig {
  const defaults = config.aws_defaults ?? {};
  const own = service.source_credentials ?? {};
  const ownKind = own.iam_keys || own.iam_profile || own.local;
  return {
    region: own.region ?? defaults.region,
    sts_endpoint: own.sts_endpoint ?? defaults.sts_endpoint,
    // A service that names its own kind of source replaces the default kind entirely:
    // mixing a default profile with a service's keys would be ambiguous.
    iam_keys: ownKind ? own.iam_keys : defaults.iam_keys,
    iam_profile: ownKind ? own.iam_profile : defaults.iam_profile,
    local: ownKind ? own.local : defaults.local,
  };
}

function checkSourceKinds(source: SourceCredentialsConfig, path: string, problems: ConfigProblem[]): void {
  const kinds = (["iam_profile", "iam_keys", "local"] as const).filter((kind) => source[kind] !== undefined);
  if (kinds.length > 1) {
    problems.push({ path, message: `sets ${kinds.join(" and ")}; choose one kind of source credentials` });
  }
}

function checkService(
  path: string,
  service: ServiceConfig,
  source: SourceCredentialsConfig,
  buffer: number,
  problems: ConfigProblem[],
  warnings: string[],
): void {
  const role = service.assumed_role;

  if (!role && source.iam_keys?.session_token) {
    problems.push({
      path: `${path}.source_credentials.iam_keys.session_token`,
      message:
        "temporary keys without assumed_role cannot be served because their expiry is unknown; add assumed_role, or use long-term keys",
    });
  }

  if (role && source.local && !source.sts_endpoint) {
    // Minted keys mean nothing to AWS: without an emulator's endpoint, AssumeRole would go to
    // real STS, signed with made-up keys.
    problems.push({
      path: `${path}.assumed_role`,
      message:
        "needs source_credentials.sts_endpoint (an emulator such as LocalStack or moto) when the source credentials are local, because AWS does not accept minted keys",
    });
  }

  const lifetime = role ? role.DurationSeconds : source.local ? source.local.duration_seconds : undefined;
  if (lifetime !== undefined && lifetime < buffer + MIN_REFRESH_WINDOW_SECONDS) {
    const field = role ? "assumed_role.DurationSeconds" : "source_credentials.local.duration_seconds";
    problems.push({
      path: `${path}.${field}`,
      message: `must be at least credentials.refresh_buffer_seconds (${buffer}) + ${MIN_REFRESH_WINDOW_SECONDS} seconds, so credentials can be refreshed before they are too close to expiry`,
    });
  }

  if (role?.TokenCode && !role.SerialNumber) {
    problems.push({ path: `${path}.assumed_role.TokenCode`, message: "needs SerialNumber, the MFA device it belongs to" });
  }
  if (role?.SerialNumber && !role.TokenCode) {
    problems.push({
      path: `${path}.assumed_role.SerialNumber`,
      message:
        "requires an MFA code, and a server cannot prompt for one; remove SerialNumber, or use a profile whose credentials already passed MFA",
    });
  }
  if (role?.TokenCode) {
    warnings.push(
      `${path}.assumed_role.TokenCode is a fixed MFA code: STS accepts each code once, so refreshes after the first will fail`,
    );
  }
  const profile = source.iam_profile ? checkProfile(path, service, source, problems) : undefined;
  if (role && role.DurationSeconds > 3600 && (source.iam_keys?.session_token || profile?.temporary)) {
    warnings.push(
      `${path}.assumed_role.DurationSeconds is over 3600, but the source credentials are temporary: STS limits role chaining to one hour, so CredProxy will ask for 3600`,
    );
  }
}

/**
 * Reads the service's profile from the shared files and rejects one that would make the
 * SDK prompt for an MFA code. The files are read from the paths the service names, else
 * from AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE of this process, else ~/.aws.
 */
function checkProfile(path: string, service: ServiceConfig, source: SourceCredentialsConfig, problems: ConfigProblem[]) {
  const settings = source.iam_profile!;
  const profiles = readProfiles({ configFile: settings.config_file, credentialsFile: settings.credentials_file }, process.env);
  const requirements = profileRequirements(settings.profile_name, profiles);
  if (requirements.mfaPromptProfile !== undefined) {
    const field = service.source_credentials?.iam_profile ? `${path}.source_credentials.iam_profile` : "aws_defaults.iam_profile";
    const via = requirements.mfaPromptProfile === settings.profile_name ? "" : ` through profile "${requirements.mfaPromptProfile}"`;
    problems.push({
      path: `${field}.profile_name`,
      message:
        `uses profile "${settings.profile_name}", which sets mfa_serial${via}: the SDK would prompt for an MFA code, and a server cannot answer a prompt; use a profile without mfa_serial, or sign in with MFA first and use the resulting session`,
    });
  }
  return requirements;
}
