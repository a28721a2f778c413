/**
 * Resolution of `${fromEnv:NAME}` and `${fromFile:/path}` references in config values.
 *
 * References are resolved after the document is parsed and only inside string values, so
 * an environment value such as `00123`, `true` or `abc #x` stays that exact string instead
 * of being re-read as YAML.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import type { ConfigProblem } from "./errors.ts";

/** How many times a resolved value may itself contain references. */
export const MAX_REFERENCE_DEPTH = 5;

const REFERENCE = /\$\{(fromEnv|fromFile):([^}]*)\}/g;

/** Sources that references are looked up in; tests pass their own. */
export interface ReferenceSources {
  env: (name: string) => string | undefined;
  readFile: (path: string) => string;
}

/** Reads real environment variables and files. */
export const processSources: ReferenceSources = {
  env: (name) => process.env[name],
  readFile: (path) => readFileSync(path, "utf8"),
};

/**
 * Returns a copy of `document` with every reference in its string values resolved.
 *
 * Problems (an unset variable, an unreadable file, references nested too deep) are pushed
 * onto `problems` with the path of the value; the value is then left as it was.
 */
export function resolveReferences(
  document: unknown,
  problems: ConfigProblem[],
  sources: ReferenceSources = processSources,
): unknown {
  return visit(document, [], problems, sources);
}

function visit(value: unknown, path: string[], problems: ConfigProblem[], sources: ReferenceSources): unknown {
  if (typeof value === "string") return resolveString(value, path.join("."), problems, sources);
  if (Array.isArray(value)) {
    return value.map((item, index) => visit(item, [...path, String(index)], problems, sources));
  }
  if (value !== null && typeof value === "object") {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) result[key] = visit(item, [...path, key], problems, sources);
    return result;
  }
  return value;
}

function resolveString(value: string, path: string, problems: ConfigProblem[], sources: ReferenceSources): string {
  let current = value;
  for (let depth = 0; depth <= MAX_REFERENCE_DEPTH; depth++) {
    REFERENCE.lastIndex = 0;
    if (!REFERENCE.test(current)) return current;
    const failures: string[] = [];
    current = current.replace(REFERENCE, (reference, kind: string, argument: string) => {
      const resolved = kind === "fromEnv" ? readEnv(argument, sources) : readFile(argument, sources);
      if (typeof resolved === "string") return resolved;
      failures.push(resolved.error);
      return reference;
    });
    if (failures.length > 0) {
      for (const message of failures) problems.push({ path, message });
      return value;
    }
  }
  problems.push({
    path,
    message: `references are nested more than ${MAX_REFERENCE_DEPTH} levels deep; check for a variable or file that refers to itself`,
  });
  return value;
}

function readEnv(name: string, sources: ReferenceSources): string | { error: string } {
  const trimmed = name.trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(trimmed)) {
    return { error: `\${fromEnv:${name}} does not name a valid environment variable` };
  }
  const value = sources.env(trimmed);
  if (value === undefined) return { error: `environment variable ${trimmed} is not set` };
  return value;
}

function readFile(path: string, sources: ReferenceSources): string | { error: string } {
  const trimmed = path.trim();
  if (trimmed === "") return { error: "${fromFile:} needs a file path" };
  let content: string;
  try {
    content = sources.readFile(trimmed);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason = code === "ENOENT" ? "not found" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : "unreadable";
    return { error: `cannot read file "${trimmed}" named by \${fromFile:}: ${reason}` };
  }
  // Editors add a final newline to secret files. Only that one is dropped: a file with
  // several lines (a PEM block, a policy) keeps every byte.
  const withoutFinal = content.replace(/\r?\n$/, "");
  return withoutFinal.includes("\n") ? content : withoutFinal;
}
