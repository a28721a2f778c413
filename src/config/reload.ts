/**
 * Reloading the main config file of a running CredProxy, as on SIGHUP.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ConfigError } from "./errors.ts";
import { loadConfigFile } from "./load.ts";
import type { Config } from "./schema.ts";

/** Sections read only at start-up: a change to them is reported and waits for a restart. */
export const RESTART_ONLY_SECTIONS = ["server", "metrics", "metadata"] as const;

/** Options of {@linkcode ConfigReloader}. */
export interface ConfigReloaderOptions {
  /** Path of the main config file. */
  path: string;
  /** Environment the file was first loaded with, overrides from flags included. */
  env: Record<string, string | undefined>;
  /** The config running now. */
  current: Config;
  /** Swaps a valid config in; rejects if it cannot. */
  apply: (config: Config) => Promise<unknown>;
  /** Called with the result of every reload, such as to count it in metrics. */
  onResult?: (result: "success" | "failure") => void;
}

/**
 * Reloads the main config file on request.
 *
 * A valid file is applied; an invalid one is logged with every problem and the running
 * config stays. Requests that arrive while a reload runs are merged into one more reload
 * after it, so a burst of SIGHUPs reads the file at most twice.
 */
export class ConfigReloader {
  readonly #options: ConfigReloaderOptions;
  readonly #logger = getLogger(["credproxy", "config"]);
  #current: Config;
  /** The config the process started with: restart-only sections stay as they were in it. */
  readonly #started: Config;
  #running?: Promise<boolean>;
  #pending?: Promise<boolean>;

  constructor(options: ConfigReloaderOptions) {
    this.#options = options;
    this.#current = options.current;
    this.#started = options.current;
  }

  /** The config running now. */
  get current(): Config {
    return this.#current;
  }

  /** Reloads the file; resolves with whether the new config was applied. */
  reload(): Promise<boolean> {
    if (!this.#running) {
      this.#running = this.#reloadOnce().finally(() => (this.#running = undefined));
      return this.#running;
    }
    this.#pending ??= this.#running.then(() => {
      this.#pending = undefined;
      return this.reload();
    });
    return this.#pending;
  }

  async #reloadOnce(): Promise<boolean> {
    const { path } = this.#options;
    this.#logger.info("Reloading config {file}", { file: path });

    let config: Config;
    try {
      const loaded = loadConfigFile(path, { env: this.#options.env });
      for (const warning of loaded.warnings) this.#logger.warn(warning);
      config = loaded.config;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.#logger.error("Cannot reload config {file}; the running config stays: {reason}", {
        file: path,
        reason: error.problems.map((problem) => (problem.path ? `${problem.path}: ${problem.message}` : problem.message)).join("; "),
        problems: error.problems,
      });
      this.#options.onResult?.("failure");
      return false;
    }

    // Compared with the start-up config, not the last reload: a section changed and then
    // changed back is what runs, and needs no restart.
    for (const section of restartOnlyChanges(this.#started, config)) {
      this.#logger.warn("The {section} section of {file} changed; the change takes effect after a restart", { section, file: path });
    }
    try {
      await this.#options.apply(config);
    } catch (error) {
      this.#logger.error("Cannot apply the reloaded config {file}: {error}", { file: path, error });
      this.#options.onResult?.("failure");
      return false;
    }
    this.#current = config;
    this.#options.onResult?.("success");
    this.#logger.info("Reloaded config {file}", { file: path });
    return true;
  }
}

/** Returns the sections that differ between two configs but apply only at start-up. */
export function restartOnlyChanges(before: Config, after: Config): string[] {
  return RESTART_ONLY_SECTIONS.filter((section) => JSON.stringify(before[section]) !== JSON.stringify(after[section]));
}
