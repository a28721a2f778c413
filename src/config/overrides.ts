/**
 * Environment variables that override settings of the config file.
 *
 * @module
 */

import type { ConfigProblem } from "./errors.ts";

/** Environment variables read by {@linkcode applyEnvironmentOverrides}. */
export const OVERRIDE_VARIABLES = {
  host: "CREDPROXY_HOST",
  port: "CREDPROXY_PORT",
  logHealthChecks: "CREDPROXY_LOG_HEALTH_CHECKS",
} as const;

/**
 * Writes `CREDPROXY_HOST`, `CREDPROXY_PORT` and `CREDPROXY_LOG_HEALTH_CHECKS` into the
 * parsed document's `server` section before validation, so a bad value is reported like any
 * other config problem, under the variable's name.
 */
export function applyEnvironmentOverrides(
  document: Record<string, unknown>,
  env: Record<string, string | undefined>,
  problems: ConfigProblem[],
): Record<string, unknown> {
  const server = { ...(isRecord(document.server) ? document.server : {}) };
  const host = env[OVERRIDE_VARIABLES.host];
  if (host !== undefined && host !== "") server.host = host;

  const port = env[OVERRIDE_VARIABLES.port];
  if (port !== undefined && port !== "") {
    if (/^\d{1,5}$/.test(port) && Number(port) <= 65_535) server.port = Number(port);
    else problems.push({ path: OVERRIDE_VARIABLES.port, message: "must be a port number from 0 to 65535" });
  }

  const logHealthChecks = env[OVERRIDE_VARIABLES.logHealthChecks];
  if (logHealthChecks !== undefined && logHealthChecks !== "") {
    const parsed = parseBoolean(logHealthChecks);
    if (parsed === undefined) {
      problems.push({ path: OVERRIDE_VARIABLES.logHealthChecks, message: "must be true or false (also accepted: 1, 0, yes, no)" });
    } else {
      server.log_health_checks = parsed;
    }
  }
  return Object.keys(server).length > 0 || "server" in document ? { ...document, server } : document;
}

/** Reads an environment flag; returns undefined when the text is not a recognised boolean. */
export function parseBoolean(value: string): boolean | undefined {
  const normalized = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(normalized)) return true;
  if (["0", "false", "no", "off"].includes(normalized)) return false;
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
