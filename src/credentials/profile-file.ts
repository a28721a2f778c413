/**
 * A small reader of the AWS shared config and credentials files, used at load time to find
 * profiles a server cannot use: ones that would prompt for an MFA code.
 *
 * Credentials themselves are always resolved by the SDK's `fromIni`; this reader only looks
 * at which keys a profile sets.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** Keys of one profile, names lower-cased. */
export type ProfileKeys = Map<string, string>;

/** Needs of the profile chain of a service's `iam_profile`. */
export interface ProfileRequirements {
  /** Name of the first profile in the chain that sets `mfa_serial` on a role, if any. */
  mfaPromptProfile?: string;
  /** True when the profile yields temporary credentials (a role, SSO, web identity, a session token). */
  temporary: boolean;
}

/** Paths of the profile files; unset ones come from the SDK's variables, then `~/.aws`. */
export interface ProfileFiles {
  configFile?: string;
  credentialsFile?: string;
}

/** Parses INI text into sections; nested sub-keys (indented lines) are skipped. */
export function parseIni(text: string): Map<string, ProfileKeys> {
  const sections = new Map<string, ProfileKeys>();
  let current: ProfileKeys | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    if (/^\s/.test(rawLine) || /^[#;]/.test(rawLine.trim())) continue;
    const line = rawLine.trim();
    const header = /^\[([^\]]+)\]/.exec(line);
    if (header) {
      const name = header[1].trim();
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      continue;
    }
    const equals = line.indexOf("=");
    if (!current || equals <= 0) continue;
    current.set(line.slice(0, equals).trim().toLowerCase(), line.slice(equals + 1).trim());
  }
  return sections;
}

/**
 * Reads the keys of every profile, merged the way the SDK merges them: the credentials
 * file's `[name]` over the config file's `[profile name]` (or `[default]`).
 * A file that cannot be read counts as empty; the SDK reports it when it fetches.
 */
export function readProfiles(files: ProfileFiles, env: Record<string, string | undefined>): Map<string, ProfileKeys> {
  const configPath = files.configFile ?? env.AWS_CONFIG_FILE ?? join(homedir(), ".aws", "config");
  const credentialsPath = files.credentialsFile ?? env.AWS_SHARED_CREDENTIALS_FILE ?? join(homedir(), ".aws", "credentials");
  const profiles = new Map<string, ProfileKeys>();

  for (const [section, keys] of parseIni(readOrEmpty(configPath))) {
    const name = section === "default" ? "default" : /^profile\s+(.+)$/.exec(section)?.[1]?.trim();
    if (name !== undefined) profiles.set(name, new Map([...(profiles.get(name) ?? []), ...keys]));
  }
  for (const [name, keys] of parseIni(readOrEmpty(credentialsPath))) {
    profiles.set(name, new Map([...(profiles.get(name) ?? []), ...keys]));
  }
  return profiles;
}

/**
 * Follows a profile and its `source_profile` chain and reports whether using it would need
 * an MFA prompt and whether it yields temporary credentials.
 */
export function profileRequirements(profileName: string, profiles: Map<string, ProfileKeys>): ProfileRequirements {
  const visited = new Set<string>();
  let mfaPromptProfile: string | undefined;
  let temporary = false;

  for (let name: string | undefined = profileName; name !== undefined && !visited.has(name);) {
    visited.add(name);
    const keys = profiles.get(name);
    if (!keys) break;

    if (keys.has("role_arn")) {
      temporary = true;
      // fromIni asks its mfaCodeProvider for a code when a role profile names an MFA
      // device; a server has no one to ask.
      if (keys.has("mfa_serial") && mfaPromptProfile === undefined) mfaPromptProfile = name;
      name = keys.get("source_profile");
      continue;
    }
    if (["sso_session", "sso_start_url", "web_identity_token_file", "aws_session_token"].some((key) => keys.has(key))) {
      temporary = true;
    }
    break;
  }
  return { mfaPromptProfile, temporary };
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
