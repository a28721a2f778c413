/**
 * Throwaway network namespaces for tests that need real interfaces: loopback addresses,
 * port 80, link-local listeners. Nothing here touches the host's own namespace.
 *
 * Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and `ip` from iproute2. When a
 * namespace cannot be made, {@linkcode NetworkNamespace.create} throws: a test that needs
 * one fails loudly rather than skipping.
 *
 * Namespaces are named `credproxy-LABEL-RANDOM`. One left behind by a killed run shows in
 * `ip netns list` and goes with `ip netns del NAME`.
 *
 * @example
 * ```ts
 * await using ns = await NetworkNamespace.create("loopback");
 * const result = await ns.exec(["ip", "-j", "addr", "show", "dev", "lo"]);
 * ```
 *
 * @module
 */

import process from "node:process";
import $, { type CommandChild, type CommandResult } from "dax";

/** Options of {@linkcode NetworkNamespace.exec}. */
export interface NamespaceExecOptions {
  /** Variables added to (or, with `undefined`, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
  /** Working directory. @default the test process's */
  cwd?: string;
  /** Text fed to stdin. @default no stdin */
  stdin?: string;
  /** Resolve with the result on a non-zero exit instead of rejecting. @default false */
  noThrow?: boolean;
}

/** Where a spawned child's output goes: dax's stream kinds. */
export type NamespaceOutput = "piped" | "inherit" | "null";

/** Options of {@linkcode NetworkNamespace.spawn}. */
export interface NamespaceSpawnOptions {
  /** Variables added to (or, with `undefined`, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
  /** Working directory. @default the test process's */
  cwd?: string;
  /**
   * `piped` makes `child.stdout()` readable; read it, or a chatty child blocks once the
   * pipe is full.
   * @default "piped"
   */
  stdout?: NamespaceOutput;
  /** @default "inherit", so a failing child's diagnostics show in the test output */
  stderr?: NamespaceOutput;
}

const LABEL = /^[a-z0-9][a-z0-9-]{0,23}$/;

/** A network namespace that exists until {@linkcode delete} (or the end of `await using`). */
export class NetworkNamespace implements AsyncDisposable {
  /** The namespace's name, as `ip netns` knows it. */
  readonly name: string;
  readonly #children = new Set<CommandChild>();
  #deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * Creates a namespace named `credproxy-LABEL-RANDOM` and brings its `lo` up.
   *
   * @param label lower-case letters, digits and dashes, to tell tests apart in `ip netns list`
   * @throws {Error} when the namespace cannot be created or `lo` not brought up
   */
  static async create(label = "test"): Promise<NetworkNamespace> {
    if (!LABEL.test(label)) {
      throw new TypeError(
        `Invalid namespace label "${label}": use 1 to 24 lower-case letters, digits and dashes`,
      );
    }
    const name = `credproxy-${label}-${randomSuffix()}`;
    const added = await $`ip netns add ${name}`.stdout("piped").stderr("piped").noThrow();
    if (added.code !== 0) {
      throw new Error(
        `Cannot create network namespace "${name}": ${added.stderr.trim()} ` +
          "(tests that need a namespace run as root with iproute2 installed)",
      );
    }
    const namespace = new NetworkNamespace(name);
    try {
      await namespace.exec(["ip", "link", "set", "lo", "up"]);
    } catch (error) {
      await namespace.delete();
      throw error;
    }
    return namespace;
  }

  /** `["ip", "netns", "exec", NAME]`: put it before a command to run it inside. */
  get execPrefix(): string[] {
    return ["ip", "netns", "exec", this.name];
  }

  /**
   * Runs a command inside the namespace to completion, capturing stdout and stderr.
   *
   * @throws {Error} dax's error on a non-zero exit, unless `noThrow` is set
   */
  async exec(argv: readonly string[], options: NamespaceExecOptions = {}): Promise<CommandResult> {
    this.#assertLive();
    let command = $`${[...this.execPrefix, ...argv]}`.stdout("piped").stderr("piped");
    command = options.stdin === undefined
      ? command.stdin("null")
      : command.stdinText(options.stdin);
    if (options.env) command = command.env(options.env);
    if (options.cwd) command = command.cwd(options.cwd);
    if (options.noThrow) command = command.noThrow();
    return await command;
  }

  /**
   * Starts a long-running command inside the namespace. Await the child for its result,
   * `child.kill()` to stop it; {@linkcode delete} stops any still running.
   */
  spawn(argv: readonly string[], options: NamespaceSpawnOptions = {}): CommandChild {
    this.#assertLive();
    let command = $`${[...this.execPrefix, ...argv]}`
      .stdin("null")
      .stdout(options.stdout ?? "piped")
      .stderr(options.stderr ?? "inherit")
      .noThrow();
    if (options.env) command = command.env(options.env);
    if (options.cwd) command = command.cwd(options.cwd);
    const child = command.spawn();
    this.#children.add(child);
    Promise.resolve(child).finally(() => this.#children.delete(child)).catch(() => {});
    return child;
  }

  /**
   * Stops the children it spawned and any other process left inside, then deletes the
   * namespace. Safe to call twice.
   */
  async delete(): Promise<void> {
    if (this.#deleted) return;
    this.#deleted = true;
    for (const child of this.#children) child.kill("SIGTERM");
    await settleWithin([...this.#children], 3000);
    for (const child of this.#children) child.kill("SIGKILL");
    await Promise.allSettled([...this.#children]);

    // Grandchildren and processes started by other means would keep the namespace alive.
    const pids = await $`ip netns pids ${this.name}`.stdout("piped").stderr("piped").noThrow();
    for (const pid of pids.stdout.split("\n").map((line) => line.trim()).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // It exited meanwhile.
      }
    }

    const deleted = await $`ip netns del ${this.name}`.stdout("piped").stderr("piped").noThrow();
    if (deleted.code !== 0) {
      throw new Error(`Cannot delete network namespace "${this.name}": ${deleted.stderr.trim()}`);
    }
  }

  /** Same as {@linkcode delete}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.delete();
  }

  #assertLive(): void {
    if (this.#deleted) throw new Error(`Network namespace "${this.name}" was deleted`);
  }
}

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}
