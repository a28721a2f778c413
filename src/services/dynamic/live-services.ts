/**
 * The services CredProxy serves while it runs: the main config's, plus those of watched
 * dynamic service files, kept in the registry as either source changes.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ConfigError } from "../../config/errors.ts";
import type { Config, ServiceConfig } from "../../config/schema.ts";
import type { CredProxyMetrics } from "../../observability/metrics.ts";
import { type BuildContext, buildService } from "../build.ts";
import type { ServiceRegistry } from "../registry.ts";
import type { FileState } from "./directory-scan.ts";
import { describeRejection, resolveOwnership } from "./ownership.ts";
import { parseServiceFile } from "./service-file.ts";
import { ServiceSync, type SyncResult } from "./service-sync.ts";
import { DirectoryWatcher } from "./watcher.ts";

/** Options of {@linkcode LiveServices}. */
export interface LiveServicesOptions {
  registry: ServiceRegistry;
  config: Config;
  /** Path of the main config file, to name it in messages. @default "the main config" */
  configPath?: string;
  /** Build context every service shares, except the config. */
  context?: Omit<BuildContext, "config">;
  metrics?: CredProxyMetrics;
  /** Subscribe to file change events; false relies on scans alone. @default true */
  useEvents?: boolean;
  /** Called after every change applied to the registry, for tests and logs. */
  onApplied?: (result: SyncResult) => void;
}

interface DynamicFile {
  /** Last state the watcher confirmed. */
  state: FileState;
  /** Services of the last version that loaded; kept while a later version fails. */
  services?: Record<string, ServiceConfig>;
  /** True while the file's current version fails to load. */
  failing?: boolean;
}

/**
 * Keeps the registry in line with the main config and the dynamic service files.
 *
 * Every change goes through one queue, so a SIGHUP and a file change never interleave.
 * A file that fails to load is reported and its previous services stay as they were.
 */
export class LiveServices {
  readonly #options: LiveServicesOptions;
  readonly #sync: ServiceSync;
  readonly #logger = getLogger(["credproxy", "dynamic"]);
  #config: Config;
  #files = new Map<string, DynamicFile>();
  #rejections = new Set<string>();
  #watcher?: DirectoryWatcher;
  #watcherSettings = "";
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: LiveServicesOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#sync = new ServiceSync({
      registry: options.registry,
      build: (claim, config) => buildService(claim.name, claim.config, { ...options.context, config }, claim.origin),
      onRemoved: (name) => options.metrics?.forgetService(name),
    });
  }

  /**
   * Builds and warms the configured services, reads the dynamic files and starts watching.
   * With `waitForWarm: false`, services are served before their first fetch has finished.
   */
  async start(options: { waitForWarm?: boolean } = {}): Promise<void> {
    await this.#enqueue(() => this.#reconcile(options.waitForWarm));
    await this.#restartWatcher();
  }

  /** Stops watching; the services stay in the registry until the caller clears it. */
  async stop(): Promise<void> {
    await this.#watcher?.stop();
    this.#watcher = undefined;
    await this.#queue;
  }

  /**
   * Swaps in a new main config: services whose effective definition is unchanged keep their
   * brokers and tokens, and dynamic files are checked again against the new defaults.
   */
  async applyConfig(config: Config): Promise<SyncResult> {
    const result = await this.#enqueue(() => {
      this.#config = config;
      for (const [path, file] of this.#files) {
        if (file.state.kind === "file") this.#loadFile(path, file, file.state.text);
      }
      return this.#reconcile();
    });
    await this.#restartWatcher();
    return result;
  }

  /** Returns the origin (`config` or a file path) of each service served now. */
  origins(): Map<string, string> {
    return new Map(this.#options.registry.list().map((service) => [service.name, service.origin]));
  }

  /** Scans the watched directories now instead of at the next interval. */
  async scanNow(): Promise<void> {
    await this.#watcher?.scanNow();
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Starts, restarts or stops the watcher when the `dynamic_services` section changed. */
  async #restartWatcher(): Promise<void> {
    const settings = this.#config.dynamic_services;
    const key = settings.enabled ? JSON.stringify(settings) : "";
    if (key === this.#watcherSettings) return;
    this.#watcherSettings = key;

    await this.#watcher?.stop();
    this.#watcher = undefined;
    if (!settings.enabled) {
      if (this.#files.size > 0) await this.#enqueue(() => this.#replaceFiles(new Map()));
      return;
    }
    const watcher = new DirectoryWatcher({
      directories: settings.directories.map((directory) => ({
        path: directory.path,
        patterns: { include: directory.include_patterns, exclude: directory.exclude_patterns },
      })),
      intervalMs: settings.reload_interval * 1000,
      useEvents: this.#options.useEvents,
      onChange: (changes, initial) => this.#enqueue(() => initial ? this.#replaceFiles(changes) : this.#applyFileChanges(changes)),
    });
    this.#watcher = watcher;
    await watcher.start();
    this.#logger.info("Watching {count} dynamic service directories every {interval} s", {
      count: settings.directories.length,
      interval: settings.reload_interval,
    });
  }

  /** Takes a full listing of the files, as at start-up: files not in it are removed. */
  #replaceFiles(found: Map<string, FileState>): Promise<SyncResult> {
    for (const path of [...this.#files.keys()]) {
      if (!found.has(path)) this.#files.delete(path);
    }
    for (const [path, state] of found) this.#updateFile(path, state);
    return this.#reconcile();
  }

  async #applyFileChanges(changes: Map<string, FileState>): Promise<SyncResult> {
    for (const [path, state] of changes) this.#updateFile(path, state);
    const result = await this.#reconcile();
    this.#options.metrics?.observeDynamicReload();
    return result;
  }

  #updateFile(path: string, state: FileState): void {
    if (state.kind === "absent") {
      if (this.#files.delete(path)) this.#logger.info("Dynamic service file {file} was removed", { file: path });
      return;
    }
    const file = this.#files.get(path) ?? { state };
    file.state = state;
    this.#files.set(path, file);
    if (state.kind === "file") {
      this.#loadFile(path, file, state.text);
    } else if (state.kind === "unreadable") {
      this.#reportFailure(path, file, [{ path: "", message: state.reason }]);
    }
  }

  #loadFile(path: string, file: DynamicFile, text: string): void {
    try {
      const loaded = parseServiceFile(text, path, this.#config, { env: this.#options.context?.env });
      file.services = loaded.services;
      file.failing = false;
      for (const warning of loaded.warnings) this.#logger.warn("{file}: {warning}", { file: path, warning });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.#reportFailure(path, file, error.problems);
    }
  }

  #reportFailure(path: string, file: DynamicFile, problems: readonly { path: string; message: string }[]): void {
    file.failing = true;
    this.#options.metrics?.observeDynamicReloadFailure();
    const kept = Object.keys(file.services ?? {});
    this.#logger.error(
      "Cannot load dynamic service file {file}: {reason}; its previous services stay as they were ({kept})",
      {
        file: path,
        reason: problems.map((problem) => (problem.path ? `${problem.path}: ${problem.message}` : problem.message)).join("; "),
        problems,
        kept: kept.length > 0 ? kept.join(", ") : "none",
      },
    );
  }

  async #reconcile(waitForWarm = true): Promise<SyncResult> {
    const files = new Map<string, Record<string, ServiceConfig>>();
    for (const [path, file] of this.#files) if (file.services) files.set(path, file.services);

    const registry = this.#options.registry;
    const ownership = resolveOwnership({
      staticServices: this.#config.services,
      files,
      previousOrigins: this.origins(),
      overlapHolder: (token) => registry.overlapHolder(token),
    });
    const rejections = new Set<string>();
    for (const rejection of ownership.rejections) {
      const message = describeRejection(rejection, this.#options.configPath ?? "the main config");
      rejections.add(message);
      if (!this.#rejections.has(message)) {
        this.#logger.warn("{rejection}", { rejection: message, file: rejection.file, service: rejection.service, heldBy: rejection.heldBy });
      }
    }
    this.#rejections = rejections;

    // A file that fails to load under the current config keeps its services exactly as they
    // run: rebuilding them under settings the file does not satisfy would break them.
    const frozenOrigins = new Set([...this.#files].filter(([, file]) => file.failing).map(([path]) => path));
    const result = await this.#sync.apply(ownership.services, this.#config, { waitForWarm, frozenOrigins });
    if (result.added.length + result.updated.length + result.removed.length > 0) {
      this.#logger.info("Services changed: {added} added, {updated} updated, {removed} removed; serving {count}", {
        added: result.added.join(", ") || "none",
        updated: result.updated.join(", ") || "none",
        removed: result.removed.join(", ") || "none",
        count: this.#options.registry.size,
      });
    }
    this.#options.onApplied?.(result);
    return result;
  }
}
