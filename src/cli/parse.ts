/**
 * Command-line parsing: argv and environment in, a typed command out. Nothing here touches
 * the process, so tests call it directly.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LOG_LEVELS } from "../observability/logging.ts";

/** Options every command that loads a config accepts. */
export interface CommonOptions {
  /** Config file path, from `--config` or `CREDPROXY_CONFIG_FILE`. */
  configPath?: string;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Readable text logs instead of JSON lines. */
  dev: boolean;
}

/** A parsed command line. */
export type Command =
  | { kind: "serve"; common: CommonOptions; host?: string; port?: number; metadata?: boolean; pidFile?: string }
  | { kind: "reload"; pidFile?: string }
  | { kind: "validate"; common: CommonOptions }
  | { kind: "healthcheck"; url: string; timeoutMs: number }
  | { kind: "schema" }
  | { kind: "loopback"; args: string[] }
  | { kind: "sidecar"; args: string[] }
  | { kind: "help"; text: string }
  | { kind: "version" };

/** A command line that cannot be understood; the CLI exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Commands in the order `--help` lists them. */
export const COMMANDS = ["serve", "validate", "healthcheck", "reload", "schema", "loopback", "sidecar"] as const;

/** Text printed by `credproxy --help`. */
export const HELP_TEXT = `CredProxy serves AWS credentials to containers the way ECS does.

Usage:
  credproxy [serve] [options]        Serve credentials (the default command)
  credproxy validate [options]       Check a config file and exit
  credproxy healthcheck [--url URL]  Exit 0 when a running CredProxy is healthy, 1 otherwise
  credproxy reload --pid-file FILE   Make the CredProxy in FILE reload its config (sends SIGHUP)
  credproxy schema                   Print the config file's JSON Schema
  credproxy loopback add|remove|status [ADDRESS...] [--dry-run]
                                     Manage metadata addresses on the loopback interface
  credproxy sidecar --upstream URL   Serve only the metadata endpoint, forwarding to the
                                     CredProxy at URL (credproxy sidecar --help for more)

Options:
  -c, --config FILE      Config file, YAML or JSON (env CREDPROXY_CONFIG_FILE)
      --host ADDRESS     Address to listen on (env CREDPROXY_HOST; default 127.0.0.1)
      --port PORT        TCP port to listen on (env CREDPROXY_PORT; default 1338)
      --metadata         Also serve the metadata endpoint (config section metadata;
                         default 169.254.170.2:80 and 127.0.0.1:80)
      --pid-file FILE    serve: write the process ID to FILE; reload: signal that process
                         (env CREDPROXY_PID_FILE)
      --log-level LEVEL  trace, debug, info, warning, error or fatal (env CREDPROXY_LOG_LEVEL; default info)
      --dev              Readable text logs instead of JSON lines
      --validate-only    Same as the validate command
      --url URL          healthcheck: URL to probe (default http://127.0.0.1:1338/health)
      --timeout SECONDS  healthcheck: how long to wait for an answer (default 3)
  -V, --version          Print the version and the commit it was built from
  -h, --help             Print this help

Exit status: 0 success, 1 runtime failure, 2 bad usage or invalid config.
`;

/**
 * Parses `argv` (without the runtime and script) and the environment into a command.
 *
 * @throws {UsageError} on unknown options, missing values or values out of range.
 */
export function parseCommandLine(argv: string[], env: Record<string, string | undefined>): Command {
  const [first, ...rest] = argv;
  if (first === "loopback") return { kind: "loopback", args: rest };
  if (first === "sidecar") return { kind: "sidecar", args: rest };

  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string", short: "c" },
        host: { type: "string" },
        port: { type: "string" },
        metadata: { type: "boolean" },
        "pid-file": { type: "string" },
        "log-level": { type: "string" },
        dev: { type: "boolean" },
        "validate-only": { type: "boolean" },
        url: { type: "string" },
        timeout: { type: "string" },
        version: { type: "boolean", short: "V" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    // Node's messages add advice about "--" that does not apply here; the first sentence is enough.
    const [firstSentence] = (error as Error).message.split(/\.(?: |$)/);
    throw new UsageError(`${firstSentence}; run credproxy --help for usage`);
  }

  if (values.help) return { kind: "help", text: HELP_TEXT };
  if (values.version) return { kind: "version" };

  const [commandName = "serve", ...extra] = positionals;
  if (!(COMMANDS as readonly string[]).includes(commandName)) {
    throw new UsageError(`Unknown command "${commandName}"; expected one of ${COMMANDS.join(", ")}`);
  }
  if (commandName === "sidecar" || commandName === "loopback") {
    const example = commandName === "sidecar" ? "credproxy sidecar --upstream URL" : "credproxy loopback status";
    throw new UsageError(`The ${commandName} command takes its own options: put them after it, as in ${example}`);
  }
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}" after ${commandName}`);
  if (commandName === "schema") return { kind: "schema" };
  const pidFile = values["pid-file"] ?? (env.CREDPROXY_PID_FILE || undefined);
  if (commandName === "reload") return { kind: "reload", pidFile };
  if (commandName === "healthcheck") {
    return {
      kind: "healthcheck",
      url: parseHealthUrl(values.url ?? `http://127.0.0.1:${env.CREDPROXY_PORT || "1338"}/health`),
      timeoutMs: parseSeconds(values.timeout ?? "3", "--timeout") * 1000,
    };
  }

  const common: CommonOptions = {
    configPath: values.config ?? (env.CREDPROXY_CONFIG_FILE || undefined),
    logLevel: parseLogLevel(values["log-level"] ?? (env.CREDPROXY_LOG_LEVEL || "info")),
    dev: values.dev ?? false,
  };
  if (commandName === "validate" || values["validate-only"]) return { kind: "validate", common };
  return {
    kind: "serve",
    common,
    host: values.host,
    port: values.port === undefined ? undefined : parsePort(values.port),
    ...(values.metadata ? { metadata: true } : {}),
    ...(pidFile ? { pidFile } : {}),
  };
}

function parseLogLevel(value: string): CommonOptions["logLevel"] {
  const normalized = value.toLowerCase() === "warn" ? "warning" : value.toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(normalized)) return normalized as CommonOptions["logLevel"];
  throw new UsageError(`Invalid log level "${value}"; expected one of ${LOG_LEVELS.join(", ")}`);
}

function parsePort(value: string): number {
  if (/^\d{1,5}$/.test(value) && Number(value) <= 65_535) return Number(value);
  throw new UsageError(`Invalid --port "${value}"; expected a port number from 0 to 65535`);
}

function parseSeconds(value: string, flag: string): number {
  const seconds = Number(value);
  if (value.trim() !== "" && Number.isFinite(seconds) && seconds > 0 && seconds <= 300) return seconds;
  throw new UsageError(`Invalid ${flag} "${value}"; expected a number of seconds from 0 to 300`);
}

function parseHealthUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`Invalid --url "${value}"; expected an http URL such as http://127.0.0.1:1338/health`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`Invalid --url "${value}"; expected an http or https URL`);
  }
  return url.href;
}
