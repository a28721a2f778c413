/**
 * Parsing and validating one dynamic service file.
 *
 * A file contains services in the same schema as the main config's `services`, either under a
 * `services:` key or as a bare mapping of service names:
 *
 * ```yaml
 * services:
 *   reports:
 *     auth_token: ${fromFile:/run/secrets/reports-token}
 *     assumed_role:
 *       RoleArn: arn:aws:iam::123456789012:role/reports
 * ```
 *
 * An empty file defines no services.
 *
 * @module
 */

import process from "node:process";
import * as v from "valibot";
import { checkServiceMap } from "../../config/cross-checks.ts";
import { type ConfigProblem, ConfigError } from "../../config/errors.ts";
import { describeIssue, parseText, stripExtensionKeys } from "../../config/load.ts";
import { type Config, type ServiceConfig, ServicesSchema } from "../../config/schema.ts";
import { processSources, resolveReferences } from "../../config/substitute.ts";

/** The services a dynamic file defines. */
export interface ServiceFile {
  services: Record<string, ServiceConfig>;
  /** Advice that does not stop the file from loading. */
  warnings: string[];
}

/** Options of {@linkcode parseServiceFile}. */
export interface ServiceFileOptions {
  /** Environment for `${fromEnv:}`. @default the process environment */
  env?: Record<string, string | undefined>;
  /** Reader for `${fromFile:}`. @default the file system */
  readFile?: (path: string) => string;
}

/**
 * Parses a dynamic service file and checks its services as the main config's are checked,
 * against the main config's `aws_defaults` and refresh buffer.
 *
 * Tokens must be unique within the file; whether another file or the main config already
 * owns a name or token is decided when services are assigned to owners.
 *
 * @throws {ConfigError} naming the file and every problem, never a value from it.
 */
export function parseServiceFile(text: string, path: string, config: Config, options: ServiceFileOptions = {}): ServiceFile {
  const document = text.trim() === "" ? null : parseText(text, path);
  if (document === null || document === undefined) return { services: {}, warnings: [] };
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new ConfigError(path, [{ path: "", message: "the top level must be a mapping: services: followed by service names, or service names directly" }]);
  }

  const withoutNotes = stripExtensionKeys(document) as Record<string, unknown>;
  const wrapped = "services" in withoutNotes;
  const problems: ConfigProblem[] = [];
  if (wrapped) {
    for (const key of Object.keys(withoutNotes)) {
      if (key !== "services") {
        problems.push({ path: key, message: "unknown key; a dynamic service file contains only services (prefix notes with x-)" });
      }
    }
  }
  const prefix = wrapped ? "services" : "";
  const at = (relative: string) => [prefix, relative].filter(Boolean).join(".");

  const env = options.env ?? process.env;
  const sources = { env: (name: string) => env[name], readFile: options.readFile ?? processSources.readFile };
  const referenceProblems: ConfigProblem[] = [];
  const resolved = resolveReferences((wrapped ? withoutNotes.services : withoutNotes) ?? {}, referenceProblems, sources);
  for (const problem of referenceProblems) problems.push({ ...problem, path: at(problem.path) });

  const result = v.safeParse(ServicesSchema, resolved, { abortEarly: false });
  if (!result.success) {
    const unresolved = new Set(problems.map((problem) => problem.path));
    for (const issue of result.issues) {
      const problem = describeIssue(issue);
      problem.path = at(problem.path);
      if (!unresolved.has(problem.path)) problems.push(problem);
    }
  }
  if (problems.length > 0) throw new ConfigError(path, problems);

  const services = result.output as Record<string, ServiceConfig>;
  const warnings: string[] = [];
  const crossProblems = checkServiceMap(config, services, "services", warnings).map((problem) => ({
    ...problem,
    path: wrapped ? problem.path : problem.path.replace(/^services\./, ""),
  }));
  if (crossProblems.length > 0) throw new ConfigError(path, crossProblems);
  return { services, warnings };
}
