/**
 * `credproxy loopback add|remove|status`: the argument parser and the runner, kept apart
 * so that tests call the parser directly and only the runner touches the interface.
 *
 * Not wired into the main CLI here; `src/cli/` calls {@linkcode parseLoopbackArgs} and
 * {@linkcode runLoopbackCommand} (or {@linkcode runLoopbackCli} for both).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ECS_ADDRESS, isContainerMetadataAddress, parseHostAddress } from "./address.ts";
import { LoopbackError } from "./errors.ts";
import {
  type AddressStatus,
  createLoopbackManager,
  type LoopbackChangeResult,
  type LoopbackManagerOptions,
} from "./loopback.ts";

/** Help text of `credproxy loopback`. */
export const LOOPBACK_USAGE =
  `Usage: credproxy loopback <add|remove|status> [ADDRESS...] [--dry-run] [--ip PATH]

Puts the container metadata addresses on the loopback interface lo, so that CredProxy can
listen on them. Needs CAP_NET_ADMIN to add or remove (docker run --cap-add NET_ADMIN).

  add       add each address as /32 (IPv4) or /128 (IPv6) unless it is already there
  remove    remove each address that is on lo, whoever added it (this process cannot
            know what another CredProxy process added)
  status    show which addresses are on lo; exits 1 when one is absent

ADDRESS defaults to ${ECS_ADDRESS} (ECS). EKS Pod Identity uses 169.254.170.23 and
fd00:ec2::23. IPv6 addresses are skipped with a warning where IPv6 is disabled.

  --dry-run   print the ip commands instead of running them (add, remove)
  --ip PATH   the ip executable (default: ip on PATH, then /sbin/ip, /usr/sbin/ip,
              /bin/ip); a static BusyBox binary works too`;

/** A command line that cannot be understood. The CLI prints it with the usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** `credproxy loopback` arguments as a typed value. */
export interface LoopbackArgs {
  action: "add" | "remove" | "status";
  /** Canonical addresses; `[ECS_ADDRESS]` when none were given. */
  addresses: string[];
  dryRun: boolean;
  /** From `--ip`; unset means "find ip". */
  ipPath?: string;
}

const ACTIONS = ["add", "remove", "status"] as const;

/**
 * Parses the arguments after `credproxy loopback`.
 *
 * @throws {UsageError} on an unknown action or flag, a missing `--ip` value, an invalid
 * address, or `--dry-run` with `status`
 *
 * @example
 * ```ts
 * parseLoopbackArgs(["add", "--dry-run"]);
 * // { action: "add", addresses: ["169.254.170.2"], dryRun: true }
 * ```
 */
export function parseLoopbackArgs(argv: string[]): LoopbackArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { "dry-run": { type: "boolean" }, ip: { type: "string" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`Invalid arguments: ${(error as Error).message}`, { cause: error });
  }

  const [action, ...given] = parsed.positionals;
  if (action === undefined) {
    throw new UsageError(`Missing action: expected one of ${ACTIONS.join(", ")}`);
  }
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new UsageError(`Unknown action "${action}": expected one of ${ACTIONS.join(", ")}`);
  }
  const dryRun = parsed.values["dry-run"] ?? false;
  if (dryRun && action === "status") {
    throw new UsageError(`Invalid option "--dry-run": status changes nothing already`);
  }
  const ipPath = parsed.values.ip;
  if (ipPath === "") throw new UsageError(`Invalid option "--ip": expected a path to ip`);

  const addresses = (given.length > 0 ? given : [ECS_ADDRESS]).map((value) => {
    let address: string;
    try {
      address = parseHostAddress(value).address;
    } catch (error) {
      throw new UsageError((error as Error).message, { cause: error });
    }
    // Status may look at any address; changes are limited to the ones an emulator serves.
    if (action !== "status" && !isContainerMetadataAddress(address)) {
      throw new UsageError(
        `Refusing to ${action} "${value}": only container metadata addresses (169.254.0.0/16 except 169.254.169.254, and fd00:ec2::23) are managed on lo`,
      );
    }
    return address;
  });
  return {
    action: action as LoopbackArgs["action"],
    addresses,
    dryRun,
    ...(ipPath === undefined ? {} : { ipPath }),
  };
}

/** Output streams of the loopback command, and how it reaches the interface. */
export interface LoopbackCommandIo {
  /** Receives results: status table, one line per address, dry-run commands. */
  stdout: (text: string) => void;
  /** Receives warnings and errors. */
  stderr: (text: string) => void;
  /**
   * Words put before each command, such as `["ip", "netns", "exec", "NAME"]`.
   * @default []
   */
  commandPrefix?: readonly string[];
}

/**
 * Runs a parsed `credproxy loopback` command and returns its exit code: 0 done, 1 failed
 * (or, for `status`, an address is absent), 2 usage. Never exits the process.
 *
 * `remove` removes the given addresses wherever they are on `lo`: state is not shared
 * between processes, so it cannot tell what a running server added.
 */
export async function runLoopbackCommand(
  parsed: LoopbackArgs,
  io: LoopbackCommandIo,
): Promise<number> {
  const print = (line: string) => io.stdout(`${line}\n`);
  const options: LoopbackManagerOptions = {
    dryRun: parsed.dryRun,
    ...(parsed.ipPath === undefined ? {} : { ipPath: parsed.ipPath }),
    ...(io.commandPrefix === undefined ? {} : { commandPrefix: io.commandPrefix }),
  };
  try {
    const manager = await createLoopbackManager(options);
    if (parsed.action === "status") {
      const statuses = await manager.status(parsed.addresses);
      for (const line of formatStatusTable(statuses)) print(line);
      return statuses.some((status) => status.state === "absent") ? 1 : 0;
    }
    const result = parsed.action === "add"
      ? await manager.add(parsed.addresses)
      : await manager.remove(parsed.addresses);
    for (const warning of result.warnings) io.stderr(`Warning: ${warning}\n`);
    for (const line of formatChanges(result, manager.device)) print(line);
    return 0;
  } catch (error) {
    if (!(error instanceof LoopbackError)) throw error;
    io.stderr(`${error.message}\n`);
    return error.kind === "invalid-address" ? 2 : 1;
  }
}

/**
 * Parses then runs `credproxy loopback ARGS`, printing usage errors with the help text.
 *
 * @returns the exit code, as {@linkcode runLoopbackCommand}
 */
export async function runLoopbackCli(argv: string[], io: LoopbackCommandIo): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${LOOPBACK_USAGE}\n`);
    return 0;
  }
  let parsed: LoopbackArgs;
  try {
    parsed = parseLoopbackArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`${error.message}\n\n${LOOPBACK_USAGE}\n`);
    return 2;
  }
  return await runLoopbackCommand(parsed, io);
}

/** Status as an aligned table with a header: address, state, prefix lengths. */
export function formatStatusTable(statuses: readonly AddressStatus[]): string[] {
  const rows = [
    ["ADDRESS", "STATE", "PREFIX"],
    ...statuses.map((status) => [
      status.address,
      status.state,
      status.prefixLengths.length > 0
        ? status.prefixLengths.map((length) => `/${length}`).join(",")
        : "-",
    ]),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row.map((cell, column) => column === row.length - 1 ? cell : cell.padEnd(widths[column]))
      .join("  ")
  );
}

function formatChanges(result: LoopbackChangeResult<string>, device: string): string[] {
  const lines = result.commands.map((argv) => `would run: ${argv.join(" ")}`);
  if (result.dryRun) {
    // In a dry run the printed commands describe the changes, so list only the addresses that need none.
    return [
      ...lines,
      ...result.addresses.filter((entry) => !entry.outcome.startsWith("would-")).map((entry) =>
        describeChange(entry.outcome, entry.cidr, device)
      ),
    ];
  }
  return result.addresses.map((entry) => describeChange(entry.outcome, entry.cidr, device));
}

function describeChange(outcome: string, cidr: string, device: string): string {
  switch (outcome) {
    case "added":
      return `added ${cidr} to ${device}`;
    case "already-present":
      return `${cidr} already on ${device}, left as it was`;
    case "skipped-ipv6-disabled":
      return `skipped ${cidr}: IPv6 is disabled on ${device}`;
    case "removed":
      return `removed ${cidr} from ${device}`;
    case "absent":
      return `${cidr} not on ${device}, nothing to remove`;
    default:
      return `${outcome} ${cidr}`;
  }
}
