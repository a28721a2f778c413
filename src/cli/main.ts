/**
 * The CLI entry point: parse, then run. Only {@linkcode main} chooses the exit status.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import process from "node:process";
import { ConfigError } from "../config/errors.ts";
import { configJsonSchema } from "../config/json-schema.ts";
import { loadConfigFile } from "../config/load.ts";
import { setupLogging } from "../observability/logging.ts";
import { SecretRedactor } from "../observability/redactor.ts";
import { COMMIT, VERSION } from "../version.ts";
import { runHealthcheck } from "./healthcheck.ts";
import { type Command, type CommonOptions, parseCommandLine, UsageError } from "./parse.ts";
import { runServe } from "./serve.ts";

/** Streams and environment the CLI uses; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
};

/** Exit status: success. */
export const EXIT_OK = 0;
/** Exit status: a runtime failure, such as an address already in use. */
export const EXIT_FAILURE = 1;
/** Exit status: bad usage or an invalid config. */
export const EXIT_USAGE = 2;

/**
 * Runs the command line and returns the exit status; `serve` returns only after a stop signal.
 */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv, io.env);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`credproxy: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }

  switch (command.kind) {
    case "help":
      io.stdout(command.text);
      return EXIT_OK;
    case "version":
      io.stdout(`credproxy ${VERSION} (commit ${COMMIT})\n`);
      return EXIT_OK;
    case "schema":
      io.stdout(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      return EXIT_OK;
    case "healthcheck":
      return await runHealthcheck(command.url, command.timeoutMs, io);
    case "loopback": {
      const { runLoopbackCli } = await import("./loopback.ts");
      return await runLoopbackCli(command.args, io);
    }
    case "sidecar": {
      const { runSidecarCli } = await import("./sidecar.ts");
      return await runSidecarCli(command.args, io);
    }
    case "validate":
      return validate(command.common, io);
    case "reload": {
      const { runReload } = await import("./reload.ts");
      return runReload(command.pidFile, io);
    }
    case "serve":
      return await serve(command, io);
  }
}

function validate(common: CommonOptions, io: CliIo): number {
  if (!common.configPath) {
    io.stderr("credproxy: No config file: pass --config FILE or set CREDPROXY_CONFIG_FILE\n");
    return EXIT_USAGE;
  }
  try {
    const loaded = loadConfigFile(common.configPath, { env: io.env });
    for (const warning of loaded.warnings) io.stderr(`Warning: ${warning}\n`);
    const count = Object.keys(loaded.config.services).length;
    io.stdout(`Config "${loaded.source}" is valid: ${count} ${count === 1 ? "service" : "services"}\n`);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

async function serve(command: Extract<Command, { kind: "serve" }>, io: CliIo): Promise<number> {
  const { common } = command;
  const redactor = new SecretRedactor();
  await setupLogging({ level: common.logLevel, format: common.dev ? "text" : "json", redactor });
  const logger = getLogger(["credproxy", "cli"]);

  if (!common.configPath) {
    io.stderr("credproxy: No config file: pass --config FILE or set CREDPROXY_CONFIG_FILE\n");
    return EXIT_USAGE;
  }
  const env = { ...io.env };
  if (command.host !== undefined) env.CREDPROXY_HOST = command.host;
  if (command.port !== undefined) env.CREDPROXY_PORT = String(command.port);

  let loaded;
  try {
    loaded = loadConfigFile(common.configPath, { env });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
  for (const warning of loaded.warnings) logger.warn(warning);

  try {
    return await runServe(loaded, { env: io.env, redactor, metadata: command.metadata, configEnv: env, pidFile: command.pidFile });
  } catch (error) {
    logger.fatal("CredProxy stopped: {error}", { error });
    io.stderr(`credproxy: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
}
