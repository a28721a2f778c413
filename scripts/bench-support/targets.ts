/**
 * The three ways CredProxy runs (`deno run`, `bun run`, the compiled binary) and, for each,
 * the command lines of CredProxy and of the benchmark's helper servers on the same runtime.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";

/** Repository root. */
export const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");

/** Names of the launch targets, in the order the report lists them. */
export const TARGET_NAMES = ["deno", "bun", "binary"] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** Path of the binary that `scripts/build` writes on x86-64. */
export const BINARY_PATH = process.env.CREDPROXY_BINARY ?? join(ROOT, "dist", "credproxy-linux-x64");

const DENO = join(ROOT, "node_modules/.bin/deno");
const BUN = join(ROOT, "node_modules/.bin/bun");
const SUPPORT = join(ROOT, "scripts/bench-support");

/** One way of running CredProxy and the helper servers beside it. */
export interface Target {
  name: TargetName;
  /** Runs CredProxy; the CLI's arguments follow. */
  credproxy: string[];
  /** Runs the bare Hono server; its arguments follow. */
  bareHono: string[];
  /** Runs CredProxy with an empty cache (`cold-serve.ts`); its arguments follow. */
  coldServe: string[];
  /** What the helper servers run on, for the report. */
  helperNote: string;
}

/**
 * Builds the target `name`. For the binary, the helper servers are compiled by Bun into
 * `workDirectory`, the way `scripts/build` compiles CredProxy, so that they run on the same
 * runtime as the binary.
 *
 * @throws when the binary is missing or a helper cannot be compiled
 */
export function createTarget(name: TargetName, workDirectory: string): Target {
  if (name === "deno") {
    const run = [DENO, "run", "--allow-all"];
    return {
      name,
      credproxy: [...run, join(ROOT, "mod.ts")],
      bareHono: [...run, join(SUPPORT, "bare-hono.ts")],
      coldServe: [...run, join(SUPPORT, "cold-serve.ts")],
      helperNote: "deno run",
    };
  }
  if (name === "bun") {
    return {
      name,
      credproxy: [BUN, join(ROOT, "mod.ts")],
      bareHono: [BUN, join(SUPPORT, "bare-hono.ts")],
      coldServe: [BUN, join(SUPPORT, "cold-serve.ts")],
      helperNote: "bun run",
    };
  }
  if (!existsSync(BINARY_PATH)) {
    throw new Error(`Cannot benchmark the binary: ${BINARY_PATH} does not exist; run scripts/build first, or leave binary out of --targets`);
  }
  return {
    name,
    credproxy: [BINARY_PATH],
    bareHono: [compileHelper("bare-hono", workDirectory)],
    coldServe: [compileHelper("cold-serve", workDirectory)],
    helperNote: "compiled with bun build --compile",
  };
}

function compileHelper(name: string, workDirectory: string): string {
  const outfile = join(workDirectory, `${name}-compiled`);
  const result = spawnSync(BUN, [
    "build",
    "--compile",
    "--minify",
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    join(SUPPORT, `${name}.ts`),
    "--outfile",
    outfile,
  ], { cwd: ROOT, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`Cannot compile ${name}.ts for the binary target: bun build exited with ${result.status}\n${result.stderr}`);
  return outfile;
}

/** Versions of the runtimes, for the report. */
export function runtimeVersions(): Record<string, string> {
  const firstLine = (argv: string[]) => spawnSync(argv[0], argv.slice(1), { encoding: "utf8" }).stdout.split("\n")[0].trim();
  const versions: Record<string, string> = { deno: firstLine([DENO, "--version"]), bun: `bun ${firstLine([BUN, "--version"])}` };
  if (existsSync(BINARY_PATH)) versions.binary = firstLine([BINARY_PATH, "--version"]);
  versions.wrk = spawnSync("wrk", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0].replace(/ Copyright.*/, "").trim();
  return versions;
}
