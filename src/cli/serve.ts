/**
 * `credproxy serve`: run until SIGTERM or SIGINT, then stop gracefully; reload the config
 * on SIGHUP.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { LoadedConfig } from "../config/load.ts";
import type { SecretRedactor } from "../observability/redactor.ts";
import { ConfigReloader } from "../config/reload.ts";
import { onSignal } from "../runtime/runtime.ts";
import { startCredProxy } from "../server/server.ts";
import { removePidFile, writePidFile } from "./reload.ts";
import { startInProcessMetadataEndpoint } from "../metadata/in-process.ts";

/** How long requests in flight may take to finish after a stop signal, in milliseconds. */
export const SHUTDOWN_GRACE_MS = 10_000;

/** Options of {@linkcode runServe}. */
export interface RunServeOptions {
  env: Record<string, string | undefined>;
  redactor: SecretRedactor;
  /** Serve the metadata endpoint even when the config's `metadata.enabled` is false (`--metadata`). */
  metadata?: boolean;
  /** Environment the config was loaded with, flag overrides included; reloads use it too. @default env */
  configEnv?: Record<string, string | undefined>;
  /** File to write the process ID to once listening, for `credproxy reload`. */
  pidFile?: string;
}

/**
 * Starts CredProxy and resolves with exit status 0 after a stop signal has been handled.
 *
 * @throws when the listener cannot be started (for example, the address is in use).
 */
export async function runServe(loaded: LoadedConfig, options: RunServeOptions): Promise<number> {
  const logger = getLogger(["credproxy", "cli"]);
  const { host, port } = loaded.config.server;

  let running;
  try {
    running = await startCredProxy({ config: loaded.config, env: options.env, redactor: options.redactor, configPath: loaded.source });
  } catch (error) {
    throw new Error(`Cannot listen on ${host}:${port}: ${describeListenError(error)}`, { cause: error });
  }

  // Handlers go in before the metadata endpoint adds addresses to lo, so that a signal
  // during its start-up still ends in close(), which removes them.
  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const removeListeners = [
    onSignal("SIGTERM", () => stop("SIGTERM")),
    onSignal("SIGINT", () => stop("SIGINT")),
  ];
  const reloader = new ConfigReloader({
    path: loaded.source,
    env: options.configEnv ?? options.env,
    current: loaded.config,
    apply: (config) => running.reload(config),
    onResult: (result) => running.metrics.observeConfigReload(result),
  });
  removeListeners.push(onSignal("SIGHUP", () => {
    reloader.reload().catch((error) => logger.error("Cannot reload the config: {error}", { error }));
  }));

  let metadata;
  if (options.metadata || loaded.config.metadata.enabled) {
    try {
      metadata = await startInProcessMetadataEndpoint(loaded.config, running.registry);
    } catch (error) {
      for (const remove of removeListeners) remove();
      await running.close(0);
      throw error;
    }
  }

  if (options.pidFile) writePidFile(options.pidFile);
  const signal = await stopped;
  // With the handlers gone, a second signal takes its default action and ends the process
  // at once: the way to skip waiting for slow requests.
  for (const remove of removeListeners) remove();
  if (options.pidFile) removePidFile(options.pidFile);

  logger.info("Received {signal}; finishing requests in flight", { signal });
  await metadata?.close(SHUTDOWN_GRACE_MS);
  await running.close(SHUTDOWN_GRACE_MS);
  return 0;
}

function describeListenError(error: unknown): string {
  const code = (error as { code?: string })?.code ?? (error as Error)?.name;
  if (code === "EADDRINUSE" || code === "AddrInUse") return "address already in use";
  if (code === "EADDRNOTAVAIL" || code === "AddrNotAvailable") return "address not available on this machine";
  if (code === "EACCES" || code === "PermissionDenied") return "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)";
  return (error as Error)?.message ?? String(error);
}
