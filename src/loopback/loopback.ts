/**
 * The loopback manager: adds the metadata addresses to `lo`, reports them, and removes
 * the ones it added. It replaces the sidecar that ran `ip addr add 169.254.170.2/32 dev lo`
 * before the emulator could bind 169.254.170.2:80.
 *
 * @module
 */

import { access, constants, readFile, stat } from "node:fs/promises";
import process from "node:process";
import { getLogger, type Logger } from "@logtape/logtape";
import $ from "dax";
import { type AddressFamily, addressKey, type HostAddress, parseHostAddress } from "./address.ts";
import { LoopbackError } from "./errors.ts";
import {
  addAddressArgv,
  classifyIpFailure,
  deleteAddressArgv,
  type InterfaceAddress,
  type IpFlavor,
  type IpInvocation,
  parseIpJson,
  parseIpOneline,
  showAddressesJsonArgv,
  showAddressesOnelineArgv,
} from "./ip-command.ts";

/** Fallback paths of `ip`, tried when it is not on `PATH`. */
export const DEFAULT_IP_CANDIDATES: readonly string[] = ["/sbin/ip", "/usr/sbin/ip", "/bin/ip"];

const INSTALL_HINT =
  "install iproute2 (apt-get install iproute2, apk add iproute2, dnf install iproute) " +
  "or copy a static BusyBox into the image and pass its path (or a link to it named ip) with --ip";

/** Options of {@linkcode findIpBinary}. */
export interface FindIpBinaryOptions {
  /** Directories to search, `:`-separated. @default process.env.PATH */
  pathEnv?: string;
  /** Absolute paths tried after `PATH`. @default DEFAULT_IP_CANDIDATES */
  candidates?: readonly string[];
}

/**
 * Finds the `ip` executable: the first `ip` on `PATH`, then the usual sbin locations.
 *
 * @throws {LoopbackError} of kind `ip-missing`, whose message names the packages to install
 */
export async function findIpBinary(options: FindIpBinaryOptions = {}): Promise<string> {
  const candidates = options.candidates ?? DEFAULT_IP_CANDIDATES;
  const found = await searchPath("ip", options.pathEnv);
  if (found !== undefined) return found;
  for (const path of candidates) {
    if (await isExecutableFile(path)) return path;
  }
  const where = candidates.length > 0
    ? `not on PATH nor at ${candidates.join(", ")}`
    : "not on PATH";
  throw new LoopbackError("ip-missing", `Cannot find the "ip" command: ${where}; ${INSTALL_HINT}`);
}

/** Returns the first executable file `name` in the `PATH` directories, if any. */
async function searchPath(
  name: string,
  pathEnv = process.env.PATH ?? "",
): Promise<string | undefined> {
  for (const dir of pathEnv.split(":")) {
    if (dir !== "" && (await isExecutableFile(`${dir}/${name}`))) return `${dir}/${name}`;
  }
  return undefined;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Options of {@linkcode createLoopbackManager}. */
export interface LoopbackManagerOptions {
  /**
   * The `ip` executable: a path, a name looked up on `PATH`, or a BusyBox binary.
   * @default the result of {@linkcode findIpBinary}
   */
  ipPath?: string;
  /** Interface to manage. @default "lo" */
  device?: string;
  /**
   * Argv words prepended to every command the manager runs, such as
   * `["ip", "netns", "exec", "NAME"]` to work inside a network namespace. The prefix must
   * keep the filesystem (as `ip netns exec` and `nsenter -n` do) because `ipPath` is
   * checked from this process.
   * @default []
   */
  commandPrefix?: readonly string[];
  /**
   * Plan only: read the current state, but return the `add`/`del` commands instead of
   * running them.
   * @default false
   */
  dryRun?: boolean;
}

/** Outcome of {@linkcode LoopbackManager.add} for one address. */
export type AddOutcome =
  /** The manager added it; {@linkcode LoopbackManager.removeAdded} will remove it. */
  | "added"
  /** It was there already or appeared while adding: left alone and not recorded as added. */
  | "already-present"
  /** IPv6 is off on the interface, so the address was skipped with a warning. */
  | "skipped-ipv6-disabled"
  /** Dry run only: the add command is listed in `commands`. */
  | "would-add";

/** Outcome of a removal for one address. */
export type RemoveOutcome = "removed" | "absent" | "would-remove";

/** One address in a {@linkcode LoopbackChangeResult}. */
export interface AddressChange<Outcome extends string> {
  /** Canonical address, such as `169.254.170.2`. */
  address: string;
  /** Address with prefix, such as `169.254.170.2/32`. */
  cidr: string;
  family: AddressFamily;
  outcome: Outcome;
  /** Warning set when the address was skipped. It is also in `warnings` and logged. */
  warning?: string;
}

/** The result of an add or a removal. */
export interface LoopbackChangeResult<Outcome extends string> {
  /** One entry per requested address, in request order. */
  addresses: AddressChange<Outcome>[];
  /** The `add`/`del` commands run, or in a dry run the ones that would run. */
  commands: string[][];
  /** Human-readable warnings, such as skipped IPv6 addresses. */
  warnings: string[];
  dryRun: boolean;
}

/** One address in {@linkcode LoopbackManager.status}. */
export interface AddressStatus {
  address: string;
  cidr: string;
  family: AddressFamily;
  /** `ipv6-disabled` for an IPv6 address on an interface where IPv6 is off. */
  state: "present" | "absent" | "ipv6-disabled";
  /** Prefix lengths of the address's entries on the interface (empty when absent). */
  prefixLengths: number[];
  /** Whether this manager added it. */
  addedByManager: boolean;
}

/**
 * Creates a {@linkcode LoopbackManager}, finding `ip` and checking that it can read the
 * interface, so that a missing binary fails at start-up.
 *
 * @throws {LoopbackError} `ip-missing` or `command-failed`
 *
 * @example
 * ```ts
 * await using loopback = await createLoopbackManager();
 * await loopback.add([ECS_ADDRESS]);
 * // ... serve on 169.254.170.2:80; leaving the scope removes what was added
 * ```
 */
export async function createLoopbackManager(
  options: LoopbackManagerOptions = {},
): Promise<LoopbackManager> {
  const ipPath = options.ipPath === undefined
    ? await findIpBinary()
    : await checkIpPath(options.ipPath);
  const invocation: IpInvocation = { ipPath, device: options.device ?? "lo" };
  const runner = new Runner(options.commandPrefix ?? []);
  const flavor = await detectFlavor(runner, invocation);
  return new LoopbackManager(runner, invocation, flavor, options.dryRun ?? false);
}

async function checkIpPath(ipPath: string): Promise<string> {
  if (!ipPath.includes("/")) {
    const found = await searchPath(ipPath);
    if (found !== undefined) return found;
    throw new LoopbackError("ip-missing", `Cannot find "${ipPath}" on PATH; ${INSTALL_HINT}`);
  }
  if (!(await isExecutableFile(ipPath))) {
    throw new LoopbackError(
      "ip-missing",
      `Cannot run "${ipPath}": no executable file there; ${INSTALL_HINT}`,
    );
  }
  return ipPath;
}

/**
 * Detects the `ip` flavor by trying `ip -j`. BusyBox's `ip` rejects `-j` with its usage
 * text, which names BusyBox, and only then is the one-line format used (see
 * `parseIpOneline` for why).
 */
async function detectFlavor(runner: Runner, invocation: IpInvocation): Promise<IpFlavor> {
  const json = await runner.run(showAddressesJsonArgv(invocation));
  if (json.code === 0) return "iproute2";
  const failure = classifyIpFailure("add", "inet", json.code, json.stderr);
  if (failure === "ip-missing") {
    throw new LoopbackError(
      "ip-missing",
      `Cannot run "${invocation.ipPath}": ${firstLine(json.stderr)}; ${INSTALL_HINT}`,
      { argv: json.argv, stderr: json.stderr },
    );
  }
  if (!/BusyBox/.test(json.stdout + json.stderr)) {
    throw commandFailed(`Cannot read the addresses of ${invocation.device}`, json);
  }
  const oneline = await runner.run(showAddressesOnelineArgv(invocation));
  if (oneline.code !== 0) {
    throw commandFailed(`Cannot read the addresses of ${invocation.device}`, oneline);
  }
  return "busybox";
}

/**
 * Manager that adds, checks and removes host addresses on one interface. It records the
 * addresses it added, so {@linkcode removeAdded} (or leaving an `await using` scope)
 * removes only those. Create one with {@linkcode createLoopbackManager}.
 *
 * Logs skipped addresses and changes under the LogTape category `["credproxy",
 * "loopback"]`. Not meant for concurrent calls on one manager.
 */
export class LoopbackManager implements AsyncDisposable {
  /** The `ip` executable in use. */
  readonly ipPath: string;
  /** The managed interface. */
  readonly device: string;
  /** `busybox` when `ip` is BusyBox's applet, read through `ip -o`. */
  readonly flavor: IpFlavor;
  /** Whether `add`/`del` commands are only returned, not run. */
  readonly dryRun: boolean;
  readonly #runner: Runner;
  readonly #invocation: IpInvocation;
  readonly #added: HostAddress[] = [];
  readonly #logger: Logger = getLogger(["credproxy", "loopback"]);

  /** @internal Use {@linkcode createLoopbackManager}. */
  constructor(runner: Runner, invocation: IpInvocation, flavor: IpFlavor, dryRun: boolean) {
    this.#runner = runner;
    this.#invocation = invocation;
    this.ipPath = invocation.ipPath;
    this.device = invocation.device;
    this.flavor = flavor;
    this.dryRun = dryRun;
  }

  /** Addresses this manager added and has not removed yet, in the order added. */
  get added(): readonly HostAddress[] {
    return [...this.#added];
  }

  /** Reads the interface's current addresses with `ip -j addr show` (or `ip -o` for BusyBox). */
  async addresses(): Promise<InterfaceAddress[]> {
    const json = this.flavor === "iproute2";
    const result = await this.#runner.run(
      json ? showAddressesJsonArgv(this.#invocation) : showAddressesOnelineArgv(this.#invocation),
    );
    if (result.code !== 0) {
      throw commandFailed(`Cannot read the addresses of ${this.device}`, result);
    }
    try {
      return json
        ? parseIpJson(result.stdout, this.device)
        : parseIpOneline(result.stdout, this.device);
    } catch (error) {
      throw new LoopbackError(
        "command-failed",
        `Cannot read the addresses of ${this.device}: "${result.argv.join(" ")}" printed no JSON`,
        { argv: result.argv, cause: error },
      );
    }
  }

  /**
   * Reports each address as present, absent, or (IPv6 only) impossible because IPv6 is off.
   *
   * @throws {LoopbackError} `invalid-address` before reading anything
   */
  async status(addresses: readonly string[]): Promise<AddressStatus[]> {
    const requested = addresses.map(parseHostAddress);
    const current = await this.addresses();
    const ipv6 = new Ipv6Probe(this.#runner, this.device, current);
    const statuses: AddressStatus[] = [];
    for (const host of requested) {
      const matches = matching(current, host);
      let state: AddressStatus["state"] = "absent";
      if (matches.length > 0) {
        state = "present";
      } else if (host.family === "inet6" && (await ipv6.disabled()) === true) {
        state = "ipv6-disabled";
      }
      statuses.push({
        ...describe(host),
        state,
        prefixLengths: matches.map((entry) => entry.prefixLength),
        addedByManager: this.#wasAdded(host),
      });
    }
    return statuses;
  }

  /**
   * Adds each address that is not on the interface yet, as a /32 or /128.
   *
   * An address already there (with any prefix) is left alone and not recorded as added.
   * The same applies to one that appears between the check and the add ("File exists").
   * When IPv6 is off, IPv6 addresses are skipped with a warning and IPv4 ones still added.
   *
   * @throws {LoopbackError} `invalid-address` (before any change), `permission-denied`,
   * `ip-missing` or `command-failed`. Addresses added before the failure stay recorded.
   */
  async add(addresses: readonly string[]): Promise<LoopbackChangeResult<AddOutcome>> {
    const requested = addresses.map(parseHostAddress);
    const current = await this.addresses();
    const ipv6 = new Ipv6Probe(this.#runner, this.device, current);
    const result = emptyResult<AddOutcome>(this.dryRun);

    for (const host of requested) {
      if (matching(current, host).length > 0) {
        result.addresses.push({ ...describe(host), outcome: "already-present" });
        continue;
      }
      if (host.family === "inet6" && (await ipv6.disabled()) === true) {
        this.#skipIpv6(result, host);
        continue;
      }
      const argv = addAddressArgv(this.#invocation, host.cidr);
      if (this.dryRun) {
        result.commands.push(this.#runner.fullArgv(argv));
        result.addresses.push({ ...describe(host), outcome: "would-add" });
        continue;
      }
      const run = await this.#runner.run(argv);
      result.commands.push(run.argv);
      if (run.code === 0) {
        if (!this.#wasAdded(host)) this.#added.push(host);
        this.#logger.info("Added {cidr} to {device}", { cidr: host.cidr, device: this.device });
        result.addresses.push({ ...describe(host), outcome: "added" });
        continue;
      }
      const failure = classifyIpFailure("add", host.family, run.code, run.stderr);
      if (failure === "exists") {
        result.addresses.push({ ...describe(host), outcome: "already-present" });
      } else if (failure === "ipv6-refused" && (await ipv6.confirmedOff())) {
        this.#skipIpv6(result, host);
      } else {
        throw this.#failure(failure, `Cannot add "${host.cidr}" to ${this.device}`, run);
      }
    }
    return result;
  }

  /**
   * Removes the given addresses from the interface with every prefix they carry, no
   * matter which process added them. The CLI's `remove` uses this because a separate
   * process cannot tell what a server process added.
   *
   * @throws {LoopbackError} `invalid-address` (before any change), `permission-denied`,
   * `command-failed`
   */
  async remove(addresses: readonly string[]): Promise<LoopbackChangeResult<RemoveOutcome>> {
    const requested = addresses.map(parseHostAddress);
    const current = await this.addresses();
    const result = emptyResult<RemoveOutcome>(this.dryRun);
    for (const host of requested) {
      const cidrs = matching(current, host).map((entry) =>
        `${entry.address}/${entry.prefixLength}`
      );
      let outcome: RemoveOutcome = "absent";
      for (const cidr of cidrs) {
        const removed = await this.#delete(host, cidr, result);
        if (removed !== "absent") outcome = removed;
      }
      result.addresses.push({ ...describe(host), outcome });
    }
    return result;
  }

  /**
   * Removes the addresses this manager added, and only those, newest first. An address
   * already gone counts as removed.
   *
   * @throws {LoopbackError} `permission-denied` or `command-failed`. Addresses not yet
   * removed stay recorded, so a later call tries again.
   */
  async removeAdded(): Promise<LoopbackChangeResult<RemoveOutcome>> {
    const result = emptyResult<RemoveOutcome>(this.dryRun);
    for (const host of [...this.#added].reverse()) {
      const outcome = await this.#delete(host, host.cidr, result);
      result.addresses.push({ ...describe(host), outcome });
    }
    return result;
  }

  /** Calls {@linkcode removeAdded} when an `await using` scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.removeAdded();
  }

  async #delete(
    host: HostAddress,
    cidr: string,
    result: LoopbackChangeResult<RemoveOutcome>,
  ): Promise<RemoveOutcome> {
    const argv = deleteAddressArgv(this.#invocation, cidr);
    if (this.dryRun) {
      result.commands.push(this.#runner.fullArgv(argv));
      return "would-remove";
    }
    const run = await this.#runner.run(argv);
    result.commands.push(run.argv);
    const failure = run.code === 0
      ? undefined
      : classifyIpFailure("del", host.family, run.code, run.stderr);
    if (failure !== undefined && failure !== "not-found") {
      throw this.#failure(failure, `Cannot remove "${cidr}" from ${this.device}`, run);
    }
    this.#forget(host);
    if (failure === "not-found") return "absent";
    this.#logger.info("Removed {cidr} from {device}", { cidr, device: this.device });
    return "removed";
  }

  #skipIpv6(result: LoopbackChangeResult<AddOutcome>, host: HostAddress): void {
    const warning =
      `Skipped "${host.cidr}": IPv6 is disabled on ${this.device}; IPv4 addresses are still added`;
    this.#logger.warn("Skipped {cidr}: IPv6 is disabled on {device}", {
      cidr: host.cidr,
      device: this.device,
    });
    result.warnings.push(warning);
    result.addresses.push({ ...describe(host), outcome: "skipped-ipv6-disabled", warning });
  }

  #failure(failure: string, action: string, run: RunResult): LoopbackError {
    const options = { argv: run.argv, stderr: run.stderr };
    if (failure === "permission-denied") {
      return new LoopbackError(
        "permission-denied",
        `${action}: operation not permitted (the process lacks CAP_NET_ADMIN); ` +
          "run the container with --cap-add NET_ADMIN (docker run, or cap_add: [NET_ADMIN] in compose)",
        options,
      );
    }
    if (failure === "ip-missing") {
      return new LoopbackError(
        "ip-missing",
        `${action}: cannot run "${this.ipPath}": ${firstLine(run.stderr)}; ${INSTALL_HINT}`,
        options,
      );
    }
    return commandFailed(action, run);
  }

  #wasAdded(host: HostAddress): boolean {
    return this.#added.some((added) => added.cidr === host.cidr);
  }

  #forget(host: HostAddress): void {
    const index = this.#added.findIndex((added) => added.cidr === host.cidr);
    if (index !== -1) this.#added.splice(index, 1);
  }
}

/**
 * Probe of whether IPv6 is off on the interface, reading the sysctl at most once per
 * operation.
 *
 * `/proc/sys/net/ipv6/conf/DEV/disable_ipv6` is per network namespace, so under a command
 * prefix it is read with `cat` through that prefix. When that read fails (no `cat` in a
 * minimal image), a failed IPv6 add still counts as "IPv6 off" if the interface shows no
 * IPv6 address at all, because `::1` is on every `lo` with IPv6 on.
 */
class Ipv6Probe {
  #disabled: Promise<boolean | undefined> | undefined;
  readonly #runner: Runner;
  readonly #device: string;
  readonly #current: readonly InterfaceAddress[];

  constructor(runner: Runner, device: string, current: readonly InterfaceAddress[]) {
    this.#runner = runner;
    this.#device = device;
    this.#current = current;
  }

  /**
   * Returns `true` when `disable_ipv6` is 1 or the kernel has no IPv6, `false` when it is
   * 0, and `undefined` when the sysctl cannot be read.
   */
  disabled(): Promise<boolean | undefined> {
    this.#disabled ??= this.#runner.readSysctl(
      `/proc/sys/net/ipv6/conf/${this.#device}/disable_ipv6`,
    )
      .then((value) => {
        if (value === "missing") return true;
        if (value === undefined) return undefined;
        return value === "1";
      });
    return this.#disabled;
  }

  /**
   * Returns whether IPv6 is off, for use after the kernel rejected an IPv6 add. Falls back
   * to "no IPv6 address on the interface" when the sysctl cannot be read.
   */
  async confirmedOff(): Promise<boolean> {
    const disabled = await this.disabled();
    if (disabled !== undefined) return disabled;
    return !this.#current.some((entry) => entry.family === "inet6");
  }
}

/** One finished command. */
interface RunResult {
  /** The argv run, prefix included. */
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
}

/** Command runner that prepends the command prefix and runs argv through dax. */
class Runner {
  readonly #prefix: readonly string[];

  constructor(prefix: readonly string[]) {
    this.#prefix = prefix;
  }

  fullArgv(argv: readonly string[]): string[] {
    return [...this.#prefix, ...argv];
  }

  /** Runs argv and returns its exit code and output. A non-zero exit does not throw. */
  async run(argv: readonly string[]): Promise<RunResult> {
    const full = this.fullArgv(argv);
    const result = await $`${full}`.stdin("null").stdout("piped").stderr("piped").noThrow();
    return { argv: full, code: result.code, stdout: result.stdout, stderr: result.stderr.trim() };
  }

  /**
   * Reads a /proc/sys file in the target namespace: the value, `missing` when the file
   * does not exist, `undefined` when it cannot be read.
   */
  async readSysctl(path: string): Promise<string | "missing" | undefined> {
    if (this.#prefix.length === 0) {
      try {
        return (await readFile(path, "utf8")).trim();
      } catch (error) {
        return (error as { code?: string }).code === "ENOENT" ? "missing" : undefined;
      }
    }
    const result = await this.run(["cat", path]);
    if (result.code === 0) return result.stdout.trim();
    // coreutils prints `cat: PATH: No such file or directory` and BusyBox prints
    // `cat: can't open 'PATH': ...`. A prefix that cannot start cat prints something else.
    return /^cat:.*No such file or directory/m.test(result.stderr) ? "missing" : undefined;
  }
}

function matching(current: readonly InterfaceAddress[], host: HostAddress): InterfaceAddress[] {
  const key = addressKey(host.address);
  return current.filter((entry) => addressKey(entry.address) === key);
}

function describe(host: HostAddress): Pick<AddressChange<string>, "address" | "cidr" | "family"> {
  return { address: host.address, cidr: host.cidr, family: host.family };
}

function emptyResult<Outcome extends string>(dryRun: boolean): LoopbackChangeResult<Outcome> {
  return { addresses: [], commands: [], warnings: [], dryRun };
}

function commandFailed(action: string, run: RunResult): LoopbackError {
  const detail = run.stderr === "" ? `exited with code ${run.code}` : firstLine(run.stderr);
  return new LoopbackError(
    "command-failed",
    `${action}: "${run.argv.join(" ")}" failed: ${detail}`,
    { argv: run.argv, stderr: run.stderr },
  );
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}
