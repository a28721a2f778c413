/**
 * Reading the deployment examples the way their tools do, and checking what they pass to
 * CredProxy with CredProxy's own parsers.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { type Command, parseCommandLine } from "../../src/cli/parse.ts";
import { parseSidecarArgs, type SidecarArgs } from "../../src/cli/sidecar.ts";
import { type LoadedConfig, validateDocument } from "../../src/config/load.ts";
import { ROOT } from "../support/credproxy-process.ts";

/** Folder of the examples. */
export const EXAMPLES = join(ROOT, "examples");

/** The compiled binary's path in the image, which commands and probes name first. */
export const IMAGE_BINARY = "/usr/local/bin/credproxy";

/** Parses a YAML file under examples/. */
export function readYaml(path: string): any {
  return parse(readFileSync(join(EXAMPLES, path), "utf8"));
}

/**
 * Stand-in contents for secret files, by file name: values of the right shape, so the
 * schema checks them as it would the real ones.
 */
export function fakeSecret(fileName: string): string {
  if (/access-key-id/.test(fileName)) return "AKIAEXAMPLEEXAMPLE01";
  if (/secret-access-key/.test(fileName)) return "example/secret/access/key/0123456789abcdef";
  if (/token/.test(fileName)) return "example-app-token-0123456789abcdef";
  throw new Error(`No stand-in value for secret file "${fileName}": add one to fakeSecret()`);
}

/**
 * Validates a config document whose `${fromFile:}` references may name only files under
 * `mounted` (a container path to secret file names), as the container would see them.
 *
 * @throws {ConfigError} when a value is invalid or names a file that is not mounted
 */
export function validateWithSecrets(document: unknown, source: string, mounted: Map<string, string[]>): LoadedConfig {
  const readFile = (path: string): string => {
    for (const [directory, names] of mounted) {
      const name = path.startsWith(`${directory}/`) ? path.slice(directory.length + 1) : undefined;
      if (name !== undefined && names.includes(name)) return fakeSecret(name);
    }
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
  };
  return validateDocument(document, source, { env: {}, readFile });
}

/** Every `${fromFile:PATH}` path in a document's string values. */
export function fromFilePaths(document: unknown): string[] {
  const paths: string[] = [];
  const visit = (value: unknown) => {
    if (typeof value === "string") {
      for (const match of value.matchAll(/\$\{fromFile:([^}]*)\}/g)) paths.push(match[1].trim());
    } else if (value && typeof value === "object") {
      for (const item of Object.values(value)) visit(item);
    }
  };
  visit(document);
  return paths;
}

/** Values in a config document under keys that hold secrets: tokens and keys. */
export function secretValues(document: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, key: string) => {
    if (typeof value === "string" && /auth_token|aws_access_key_id|aws_secret_access_key|session_token|ExternalId|TokenCode/.test(key)) {
      found.push(value);
    } else if (value && typeof value === "object") {
      for (const [name, item] of Object.entries(value)) visit(item, name);
    }
  };
  visit(document, "");
  return found;
}

/** Parses a CredProxy argv (without the binary) the way the CLI does. */
export function parseCredProxyArgs(argv: string[]): Command {
  return parseCommandLine(argv, {});
}

/** Parses a `sidecar ARGS…` argv the way `credproxy sidecar` does. */
export function parseSidecarCommand(argv: string[]): SidecarArgs {
  const command = parseCommandLine(argv, {});
  if (command.kind !== "sidecar") throw new Error(`Expected a sidecar command, got ${command.kind}`);
  return parseSidecarArgs(command.args, {});
}

/** Drops the image's binary path from the front of an exec-form command. */
export function withoutBinary(argv: string[]): string[] {
  if (argv[0] !== IMAGE_BINARY) throw new Error(`Expected the command to start with ${IMAGE_BINARY}, got ${argv[0]}`);
  return argv.slice(1);
}
