/**
 * Reading, parsing and validating a CredProxy config file.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import * as v from "valibot";
import { parseDocument } from "yaml";
import { checkServices } from "./cross-checks.ts";
import { type ConfigProblem, ConfigError } from "./errors.ts";
import { applyEnvironmentOverrides } from "./overrides.ts";
import { type Config, ConfigSchema } from "./schema.ts";
import { processSources, type ReferenceSources, resolveReferences } from "./substitute.ts";

/** A validated configuration and where it came from. */
export interface LoadedConfig {
  /** The validated configuration, defaults filled in. */
  config: Config;
  /** File path the configuration was read from, or the label given for inline text. */
  source: string;
  /** Things that work but are probably not what the author intended. */
  warnings: string[];
}

/** Options of {@linkcode loadConfigFile} and {@linkcode parseConfigText}. */
export interface LoadOptions {
  /** Environment used for overrides and `${fromEnv:}`; defaults to the process environment. */
  env?: Record<string, string | undefined>;
  /** Reader used for `${fromFile:}`; defaults to the file system. */
  readFile?: (path: string) => string;
}

/**
 * Reads, parses and validates a config file.
 *
 * @throws {ConfigError} listing every problem found, each with its dotted path.
 * @example
 * ```ts
 * const { config } = loadConfigFile("examples/quickstart/credproxy.yaml");
 * console.log(Object.keys(config.services));
 * ```
 */
export function loadConfigFile(path: string, options: LoadOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason = code === "ENOENT"
      ? "file not found"
      : code === "EACCES"
      ? "permission denied"
      : code === "EISDIR"
      ? "is a directory, not a file"
      : "cannot be read";
    throw new ConfigError(path, [{ path: "", message: reason }], { cause: error });
  }
  return parseConfigText(text, path, options);
}

/**
 * Parses and validates config text; JSON when `source` ends in `.json`, YAML otherwise.
 *
 * @throws {ConfigError} listing every problem found.
 */
export function parseConfigText(text: string, source: string, options: LoadOptions = {}): LoadedConfig {
  const document = parseText(text, source);
  return validateDocument(document, source, options);
}

/**
 * Validates an already parsed document (from a file, or built in code).
 *
 * @throws {ConfigError} listing every problem found.
 */
export function validateDocument(document: unknown, source: string, options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const sources: ReferenceSources = {
    env: (name) => env[name],
    readFile: options.readFile ?? processSources.readFile,
  };
  const problems: ConfigProblem[] = [];

  if (document === null || document === undefined) {
    throw new ConfigError(source, [{ path: "", message: "the file is empty; it needs at least a services section" }]);
  }
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new ConfigError(source, [{ path: "", message: "the top level must be a mapping of sections such as server and services" }]);
  }

  const withoutComments = stripExtensionKeys(document);
  const resolved = resolveReferences(withoutComments, problems, sources) as Record<string, unknown>;
  const overridden = applyEnvironmentOverrides(resolved, env, problems);

  const result = v.safeParse(ConfigSchema, overridden, { abortEarly: false });
  if (!result.success) {
    // A value whose reference failed still holds the reference text; its schema problem
    // would only repeat the first one in worse words.
    const unresolved = new Set(problems.map((problem) => problem.path));
    for (const issue of result.issues) {
      const problem = describeIssue(issue);
      if (!unresolved.has(problem.path)) problems.push(problem);
    }
  }
  if (problems.length > 0) {
    // The cross-field checks need a valid document, but a repeated token is worth reporting
    // in the same pass as the schema's problems.
    problems.push(...findRepeatedTokens(overridden.services));
    throw new ConfigError(source, dedupe(problems));
  }

  const config = result.output as Config;
  const warnings: string[] = [];
  const crossProblems = checkServices(config, warnings);
  if (crossProblems.length > 0) throw new ConfigError(source, crossProblems);
  return { config, source, warnings };
}

/**
 * Parses YAML, or JSON when `source` ends in `.json`, into a plain value.
 *
 * @throws {ConfigError} whose messages name a line and column, never the text there.
 */
export function parseText(text: string, source: string): unknown {
  if (source.toLowerCase().endsWith(".json")) {
    try {
      return JSON.parse(text);
    } catch (error) {
      // The engine's message names a position, never the text around it.
      const detail = error instanceof Error ? error.message : String(error);
      throw new ConfigError(source, [{ path: "", message: `invalid JSON: ${detail}` }], { cause: error });
    }
  }

  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (document.errors.length > 0) {
    const problems = document.errors.map((error) => {
      const { line, column } = lineAndColumn(text, error.pos[0]);
      return { path: "", message: `invalid YAML at line ${line}, column ${column}: ${yamlReason(error.code)}` };
    });
    throw new ConfigError(source, problems);
  }
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // Parsing succeeded but resolving aliases failed: an alias without its anchor, or more
    // aliases than allowed (a "billion laughs" document).
    const reason = /alias count/i.test(String((error as Error)?.message))
      ? "too many aliases; expand them or use fewer"
      : "an alias (*name) refers to an anchor (&name) that is not defined before it";
    throw new ConfigError(source, [{ path: "", message: `invalid YAML: ${reason}` }], { cause: error });
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

// The yaml package's messages quote the surrounding source, which may hold a secret, so
// only its error code is turned into words.
function yamlReason(code: string): string {
  const reasons: Record<string, string> = {
    DUPLICATE_KEY: "a key appears twice in the same mapping",
    BAD_INDENT: "the indentation is inconsistent",
    MISSING_CHAR: "a closing quote or bracket is missing",
    BLOCK_AS_IMPLICIT_KEY: "a nested block is used as a key",
    MULTILINE_IMPLICIT_KEY: "a key spans several lines",
    TAB_AS_INDENT: "tabs are used for indentation; use spaces",
    UNEXPECTED_TOKEN: "unexpected character",
    ALIAS_PROPS: "an alias has properties",
  };
  return reasons[code] ?? `syntax error (${code})`;
}

// Keys starting with `x-` are allowed anywhere, as in Compose files, to hold anchors and
// notes; they are removed before validation so strict objects accept the rest.
export function stripExtensionKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripExtensionKeys);
  if (value !== null && typeof value === "object") {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (!key.startsWith("x-")) result[key] = stripExtensionKeys(item);
    }
    return result;
  }
  return value;
}

/** Turns a valibot issue into a problem with a dotted path. */
export function describeIssue(issue: v.BaseIssue<unknown>): ConfigProblem {
  const path = (issue.path ?? []).map((item) => String(item.key)).join(".");
  if (issue.type === "strict_object" && issue.kind === "schema") {
    return { path, message: "unknown key; check its spelling, or prefix it with x- to keep it as a note" };
  }
  return { path, message: issue.message };
}

/** Repeated `auth_token` strings in a not yet validated `services` mapping. */
function findRepeatedTokens(services: unknown): ConfigProblem[] {
  if (services === null || typeof services !== "object" || Array.isArray(services)) return [];
  const owners = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  for (const [name, service] of Object.entries(services)) {
    const token = (service as { auth_token?: unknown } | null)?.auth_token;
    if (typeof token !== "string") continue;
    const owner = owners.get(token);
    if (owner === undefined) {
      owners.set(token, name);
      continue;
    }
    problems.push({
      path: `services.${name}.auth_token`,
      message: `is the same token as services.${owner}.auth_token; every service needs its own token`,
    });
  }
  return problems;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${problem.path}\0${problem.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
