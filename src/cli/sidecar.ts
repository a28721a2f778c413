/**
 * `credproxy sidecar --upstream URL`: only the metadata endpoint, forwarding to a CredProxy
 * that runs elsewhere (another container sharing this one's network namespace, or another
 * host). The argument parser is pure; {@linkcode runSidecarCli} runs it.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { parseArgs } from "node:util";
import { LOG_LEVELS, setupLogging } from "../observability/logging.ts";
import { SecretRedactor } from "../observability/redactor.ts";
import { onSignal } from "../runtime/runtime.ts";
import { MetadataPathSchema } from "../metadata/config-schema.ts";
import { DEFAULT_LISTEN_ADDRESSES, type ListenAddress, parseListenAddress } from "../metadata/listen-address.ts";
import { DEFAULT_UPSTREAM_TIMEOUT_MS, parseUpstreamUrl } from "../metadata/upstream.ts";
import type { CliIo } from "./main.ts";
import { SHUTDOWN_GRACE_MS } from "./serve.ts";
import * as v from "valibot";

/** Help text of `credproxy sidecar`. */
export const SIDECAR_USAGE = `Usage: credproxy sidecar --upstream URL [options]

Serves the container metadata endpoint (169.254.170.2:80 and 127.0.0.1:80 by default) and
forwards credential requests to the CredProxy API at URL. Adds the listen addresses that
are not on lo yet (needs CAP_NET_ADMIN) and removes them on SIGTERM or SIGINT.

  --upstream URL          CredProxy API to forward to, such as http://credproxy:1338
                          (env CREDPROXY_UPSTREAM_URL)
  --listen HOST:PORT      address to serve; repeat for several (default 169.254.170.2:80
                          and 127.0.0.1:80; EKS Pod Identity: 169.254.170.23:80, [fd00:ec2::23]:80)
  --credentials-path PATH another path that serves credentials besides /v1/credentials;
                          repeat for several
  --timeout SECONDS       time an upstream request may take before clients get 504
                          (default ${DEFAULT_UPSTREAM_TIMEOUT_MS / 1000})
  --no-add-addresses      do not add or remove addresses on lo; they must be there already
  --allow-non-loopback-peers
                          serve clients that are not on this host (default: loopback only)
  --ip PATH               the ip executable (default: ip on PATH, then /sbin, /usr/sbin, /bin)
  --log-level LEVEL       trace, debug, info, warning, error or fatal (env CREDPROXY_LOG_LEVEL)
  --dev                   readable text logs instead of JSON lines

Probe it with: credproxy healthcheck --url http://127.0.0.1/health`;

/** `credproxy sidecar` arguments as a typed value. */
export interface SidecarArgs {
  upstreamUrl: string;
  listen: ListenAddress[];
  credentialPaths: string[];
  timeoutMs: number;
  addAddresses: boolean;
  allowNonLoopbackPeers: boolean;
  ipPath?: string;
  logLevel: (typeof LOG_LEVELS)[number];
  dev: boolean;
}

/** A sidecar command line that cannot be understood; printed with the usage, exit status 2. */
export class SidecarUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SidecarUsageError";
  }
}

/**
 * Parses the arguments after `credproxy sidecar`.
 *
 * @throws {SidecarUsageError} on an unknown flag, a missing upstream, or an invalid value
 *
 * @example
 * ```ts
 * parseSidecarArgs(["--upstream", "http://credproxy:1338"], {}).listen;
 * // [{ host: "169.254.170.2", port: 80 }, { host: "127.0.0.1", port: 80 }]
 * ```
 */
export function parseSidecarArgs(argv: string[], env: Record<string, string | undefined>): SidecarArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        upstream: { type: "string" },
        listen: { type: "string", multiple: true },
        "credentials-path": { type: "string", multiple: true },
        timeout: { type: "string" },
        "no-add-addresses": { type: "boolean" },
        "allow-non-loopback-peers": { type: "boolean" },
        ip: { type: "string" },
        "log-level": { type: "string" },
        dev: { type: "boolean" },
      },
    }));
  } catch (error) {
    const [firstSentence] = (error as Error).message.split(/\.(?: |$)/);
    throw new SidecarUsageError(firstSentence);
  }

  const upstream = values.upstream ?? (env.CREDPROXY_UPSTREAM_URL || undefined);
  if (upstream === undefined) {
    throw new SidecarUsageError("Missing --upstream: pass the CredProxy API URL, such as --upstream http://credproxy:1338");
  }
  const args: SidecarArgs = {
    upstreamUrl: attempt(() => parseUpstreamUrl(upstream).href),
    listen: values.listen === undefined
      ? DEFAULT_LISTEN_ADDRESSES.map((address) => ({ ...address }))
      : values.listen.map((value) => attempt(() => parseListenAddress(value))),
    credentialPaths: (values["credentials-path"] ?? []).map((path) => {
      const checked = v.safeParse(MetadataPathSchema, path);
      if (checked.success) return checked.output;
      throw new SidecarUsageError(`Invalid --credentials-path "${path}": ${checked.issues[0].message}`);
    }),
    timeoutMs: parseTimeout(values.timeout),
    addAddresses: !(values["no-add-addresses"] ?? false),
    allowNonLoopbackPeers: values["allow-non-loopback-peers"] ?? false,
    logLevel: parseLogLevel(values["log-level"] ?? (env.CREDPROXY_LOG_LEVEL || "info")),
    dev: values.dev ?? false,
  };
  if (values.ip !== undefined) {
    if (values.ip === "") throw new SidecarUsageError(`Invalid --ip "": expected a path to ip`);
    args.ipPath = values.ip;
  }
  return args;
}

/**
 * Parses then runs `credproxy sidecar ARGS` until SIGTERM or SIGINT, and returns the exit
 * status: 0 after a clean stop, 1 when it cannot start or cannot remove its addresses,
 * 2 on bad usage.
 */
export async function runSidecarCli(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${SIDECAR_USAGE}\n`);
    return 0;
  }
  let args: SidecarArgs;
  try {
    args = parseSidecarArgs(argv, io.env);
  } catch (error) {
    if (!(error instanceof SidecarUsageError)) throw error;
    io.stderr(`credproxy sidecar: ${error.message}\n\n${SIDECAR_USAGE}\n`);
    return 2;
  }

  await setupLogging({ level: args.logLevel, format: args.dev ? "text" : "json", redactor: new SecretRedactor() });
  const logger = getLogger(["credproxy", "cli"]);
  const { startSidecar } = await import("../metadata/sidecar.ts");

  // Listen for stop signals before adding addresses, so that a SIGTERM during start-up
  // still removes them.
  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const removeListeners = [onSignal("SIGTERM", () => stop("SIGTERM")), onSignal("SIGINT", () => stop("SIGINT"))];
  try {
    let sidecar;
    try {
      sidecar = await startSidecar({
        url: args.upstreamUrl,
        timeoutMs: args.timeoutMs,
        credentialPaths: args.credentialPaths,
        listen: args.listen,
        addAddresses: args.addAddresses,
        allowNonLoopbackPeers: args.allowNonLoopbackPeers,
        ipPath: args.ipPath,
      });
    } catch (error) {
      logger.fatal("Sidecar cannot start: {error}", { error });
      io.stderr(`credproxy sidecar: ${(error as Error).message}\n`);
      return 1;
    }

    const signal = await stopped;
    logger.info("Received {signal}; stopping the metadata endpoint", { signal });
    try {
      await sidecar.close(SHUTDOWN_GRACE_MS);
    } catch (error) {
      logger.error("Cannot stop the sidecar cleanly: {error}", { error });
      io.stderr(`credproxy sidecar: ${(error as Error).message}\n`);
      return 1;
    }
    return 0;
  } finally {
    for (const remove of removeListeners) remove();
  }
}

function attempt<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new SidecarUsageError((error as Error).message);
  }
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_UPSTREAM_TIMEOUT_MS;
  const seconds = Number(value);
  if (value.trim() !== "" && Number.isFinite(seconds) && seconds > 0 && seconds <= 60) return Math.round(seconds * 1000);
  throw new SidecarUsageError(`Invalid --timeout "${value}": expected a number of seconds above 0, at most 60`);
}

function parseLogLevel(value: string): SidecarArgs["logLevel"] {
  const normalized = value.toLowerCase() === "warn" ? "warning" : value.toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(normalized)) return normalized as SidecarArgs["logLevel"];
  throw new SidecarUsageError(`Invalid log level "${value}": expected one of ${LOG_LEVELS.join(", ")}`);
}
