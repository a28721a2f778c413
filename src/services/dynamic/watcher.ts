/**
 * Watching directories of service files: change events where the file system delivers
 * them, and a scan every interval so that correctness never depends on them.
 *
 * @module
 */

import { type FSWatcher, statSync, watch } from "node:fs";
import { getLogger } from "@logtape/logtape";
import { ABSENT, type FileState, sameState, scanDirectory } from "./directory-scan.ts";
import { type FilePatterns, globToRegExp } from "./file-filter.ts";

/** Shortest interval between two scans, in milliseconds; `reload_interval: 0` means this. */
export const MIN_SCAN_INTERVAL_MS = 50;

/** Scans a link may stay dangling before it counts as deleted. */
export const DANGLING_SCANS_BEFORE_DELETION = 5;

/** How many intervals a stream of change events may postpone a scan. */
const MAX_POSTPONED_INTERVALS = 10;

/** One watched directory. */
export interface WatchedDirectory {
  path: string;
  patterns: FilePatterns;
}

/** Options of {@linkcode DirectoryWatcher}. */
export interface WatcherOptions {
  directories: readonly WatchedDirectory[];
  /** Quiet time after a change before it is applied, and the time between scans, in milliseconds. */
  intervalMs: number;
  /**
   * Receives the files whose state changed, keyed by path. The first call (`initial`) contains
   * every file found, and calls never overlap.
   */
  onChange: (changes: Map<string, FileState>, initial: boolean) => Promise<unknown> | void;
  /** Subscribe to file system change events; false relies on scans alone. @default true */
  useEvents?: boolean;
}

interface DirectoryHandle {
  watched: WatchedDirectory;
  watcher?: FSWatcher;
  /** Inode of the directory the watcher was opened on, to notice a directory replaced. */
  inode?: number;
  missingReported: boolean;
}

/**
 * Reports confirmed changes to the service files of some directories.
 *
 * A change is reported once two scans at least an interval apart agree on it, so a file
 * caught half-way through an editor's save or a `cp` is never reported. A symbolic link
 * that dangles (a ConfigMap `..data` swap in progress) is rescanned rather than reported as
 * deleted, until it has dangled for {@linkcode DANGLING_SCANS_BEFORE_DELETION} scans.
 * Directories that do not exist yet are picked up when they appear.
 */
export class DirectoryWatcher {
  readonly #options: WatcherOptions;
  readonly #intervalMs: number;
  readonly #handles: DirectoryHandle[];
  readonly #logger = getLogger(["credproxy", "dynamic"]);

  /** States last passed to onChange; absent files are not kept. */
  #applied = new Map<string, FileState>();
  /** States the previous scan found. */
  #observed = new Map<string, FileState>();
  #danglingScans = new Map<string, number>();

  #timer?: ReturnType<typeof setTimeout>;
  #lastScanAt = 0;
  #scanning?: Promise<void>;
  #lastScanError?: string;
  #stopped = false;

  constructor(options: WatcherOptions) {
    for (const directory of options.directories) {
      for (const glob of [...directory.patterns.include, ...directory.patterns.exclude]) globToRegExp(glob);
    }
    this.#options = options;
    this.#intervalMs = Math.max(MIN_SCAN_INTERVAL_MS, options.intervalMs);
    this.#handles = options.directories.map((watched) => ({ watched, missingReported: false }));
  }

  /** Scans once, reports every file found, then keeps watching until {@linkcode stop}. */
  async start(): Promise<void> {
    await this.#scan(true);
    this.#schedule(this.#intervalMs);
  }

  /** Stops watching and waits for a scan in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const handle of this.#handles) this.#closeWatcher(handle);
    await this.#scanning;
  }

  /** Scans now, outside the schedule; for tests and an explicit reload. */
  async scanNow(): Promise<void> {
    await this.#scanning;
    await this.#scan(false);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#runScheduledScan(), delayMs);
  }

  async #runScheduledScan(): Promise<void> {
    if (!this.#scanning) {
      try {
        await this.#scan(false);
        this.#lastScanError = undefined;
      } catch (error) {
        // A directory that cannot be read fails every scan: log each new reason once.
        const reason = (error as Error).message;
        if (reason !== this.#lastScanError) {
          this.#logger.error("Cannot scan the dynamic service directories; retrying every interval: {error}", { error });
          this.#lastScanError = reason;
        }
      }
    }
    this.#schedule(this.#intervalMs);
  }

  /** Postpones the next scan until the directory has been quiet for an interval. */
  #onEvent(): void {
    if (this.#stopped || this.#scanning) return;
    const latest = this.#lastScanAt + MAX_POSTPONED_INTERVALS * this.#intervalMs;
    this.#schedule(Math.max(0, Math.min(Date.now() + this.#intervalMs, latest) - Date.now()));
  }

  async #scan(initial: boolean): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#scanning = promise;
    try {
      const current = await this.#readAll();
      const changes = this.#confirmedChanges(current, initial);
      this.#observed = current;
      for (const [path, state] of changes) {
        if (state.kind === "absent") this.#applied.delete(path);
        else this.#applied.set(path, state);
      }
      if (changes.size > 0 || initial) await this.#options.onChange(changes, initial);
    } finally {
      this.#lastScanAt = Date.now();
      this.#scanning = undefined;
      resolve();
    }
  }

  async #readAll(): Promise<Map<string, FileState>> {
    const current = new Map<string, FileState>();
    for (const handle of this.#handles) {
      const found = await scanDirectory(handle.watched.path, handle.watched.patterns);
      if (found === undefined) {
        this.#closeWatcher(handle);
        if (!handle.missingReported) {
          this.#logger.warn("Dynamic service directory {directory} does not exist; watching for it to appear", {
            directory: handle.watched.path,
          });
          handle.missingReported = true;
        }
        continue;
      }
      if (handle.missingReported) {
        this.#logger.info("Dynamic service directory {directory} appeared", { directory: handle.watched.path });
        handle.missingReported = false;
      }
      this.#ensureWatcher(handle);
      for (const [path, state] of found) current.set(path, state);
    }
    return current;
  }

  /** Compares a scan with the previous scan and with what was reported. */
  #confirmedChanges(current: Map<string, FileState>, initial: boolean): Map<string, FileState> {
    const changes = new Map<string, FileState>();
    const paths = new Set([...current.keys(), ...this.#observed.keys(), ...this.#applied.keys()]);
    for (const path of paths) {
      let now = current.get(path) ?? ABSENT;
      const applied = this.#applied.get(path) ?? ABSENT;

      if (now.kind === "dangling") {
        const scans = (this.#danglingScans.get(path) ?? 0) + 1;
        this.#danglingScans.set(path, scans);
        if (scans < DANGLING_SCANS_BEFORE_DELETION) continue;
        now = ABSENT;
      } else {
        this.#danglingScans.delete(path);
      }

      if (sameState(now, applied)) continue;
      const previous = this.#observed.get(path) ?? ABSENT;
      const confirmed = initial || sameState(now, previous) || (now.kind === "absent" && previous.kind === "dangling");
      if (confirmed) changes.set(path, now);
    }
    return changes;
  }

  #ensureWatcher(handle: DirectoryHandle): void {
    if (this.#options.useEvents === false || this.#stopped) return;
    let inode: number | undefined;
    try {
      inode = statSync(handle.watched.path).ino;
    } catch {
      return;
    }
    if (handle.watcher && handle.inode === inode) return;

    this.#closeWatcher(handle);
    try {
      const watcher = watch(handle.watched.path, { persistent: true }, () => this.#onEvent());
      // A watcher whose directory was removed reports an error; scans carry on without it.
      watcher.on("error", () => this.#closeWatcher(handle));
      handle.watcher = watcher;
      handle.inode = inode;
    } catch (error) {
      this.#logger.debug("Cannot watch {directory} for changes; relying on scans: {error}", {
        directory: handle.watched.path,
        error,
      });
    }
  }

  #closeWatcher(handle: DirectoryHandle): void {
    try {
      handle.watcher?.close();
    } catch {
      // Already closed by the runtime after an error.
    }
    handle.watcher = undefined;
    handle.inode = undefined;
  }
}
