/**
 * Starts CredProxy as a real child process (from source under the test's own runtime, or the
 * compiled binary) and records its logs for the secret audit.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { stringify } from "yaml";

declare const Deno: any;

/** Repository root. */
export const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");

/** Path of the compiled binary that `scripts/build` writes. */
export const BINARY_PATH = process.env.CREDPROXY_BINARY ?? join(ROOT, "dist", "credproxy-linux-x64");

/** A way of running CredProxy. */
export interface LaunchTarget {
  /** `deno`, `bun` or `binary`, for test names. */
  name: string;
  argv: string[];
}

/** Runs `mod.ts` under the runtime that runs the tests. */
export function sourceTarget(): LaunchTarget {
  if (typeof Deno !== "undefined") return { name: "deno", argv: [Deno.execPath(), "run", "--allow-all", join(ROOT, "mod.ts")] };
  return { name: "bun", argv: [process.execPath, join(ROOT, "mod.ts")] };
}

/**
 * Targets end-to-end tests run against: the source under this runtime, and the compiled
 * binary when it has been built.
 */
export function launchTargets(): LaunchTarget[] {
  const targets = [sourceTarget()];
  if (existsSync(BINARY_PATH)) targets.push({ name: "binary", argv: [BINARY_PATH] });
  return targets;
}

/** Environment for child processes: no route to real AWS credentials or metadata. */
export function safeEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(AWS_|CREDPROXY_)/.test(key)) env[key] = value;
  }
  Object.assign(env, {
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: "/nonexistent/credproxy-test/config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credproxy-test/credentials",
    NO_COLOR: "1",
  });
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Creates a temporary directory for one test. */
export function tempDir(prefix = "credproxy-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a config object as YAML (or JSON when the name ends in .json) and returns its path. */
export function writeConfig(config: unknown, directory = tempDir(), name = "credproxy.yaml"): string {
  const path = join(directory, name);
  writeFileSync(path, name.endsWith(".json") ? JSON.stringify(config, null, 2) : stringify(config));
  return path;
}

/** Result of a CLI run that exits by itself. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a CredProxy command that exits on its own, such as `validate`. */
export function runCli(
  args: string[],
  options: { target?: LaunchTarget; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const target = options.target ?? sourceTarget();
  const child = spawn(target.argv[0], [...target.argv.slice(1), ...args], { env: safeEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`credproxy ${args.join(" ")} did not exit within ${options.timeoutMs ?? 30_000} ms\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Options of {@linkcode CredProxyProcess.start}. */
export interface StartProcessOptions {
  /** Config object, written to a temporary YAML file; or the path of an existing file. */
  config: unknown;
  target?: LaunchTarget;
  /** Extra arguments after `serve`. */
  args?: string[];
  env?: Record<string, string | undefined>;
  /** Secrets to look for in the logs besides the config's tokens and keys. */
  secrets?: string[];
  /** Name of the log file written for the audit. */
  label?: string;
  /** Words put before the command, such as `["ip", "netns", "exec", NAME]`. @default [] */
  prefix?: string[];
  /** Arguments that replace `serve --config FILE ARGS`, such as `["sidecar", "--upstream", URL]`. */
  command?: string[];
  /**
   * Log text that means the process is ready; its first group is the URL when no log line
   * has a `url` property. @default the line with the API's `url`
   */
  readyPattern?: RegExp;
}

/** A CredProxy child process serving on a free port. */
export class CredProxyProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly secrets: Set<string>;
  #stderr: { text: string };
  #label: string;
  #exit: Promise<number | null>;

  private constructor(child: ChildProcess, url: string, stderr: { text: string }, secrets: Set<string>, label: string, exit: Promise<number | null>) {
    this.child = child;
    this.url = url;
    this.#stderr = stderr;
    this.secrets = secrets;
    this.#label = label;
    this.#exit = exit;
  }

  /** Starts `credproxy serve` on 127.0.0.1 and a free port, and waits until it listens. */
  static async start(options: StartProcessOptions): Promise<CredProxyProcess> {
    const target = options.target ?? sourceTarget();
    const secrets = new Set([...collectSecrets(options.config), ...(options.secrets ?? [])]);
    const args = options.command ?? [
      "serve",
      "--config",
      typeof options.config === "string" ? options.config : writeConfig(withFreePort(options.config)),
      ...(options.args ?? []),
    ];
    const argv = [...(options.prefix ?? []), ...target.argv, ...args];
    const child = spawn(argv[0], argv.slice(1), {
      env: safeEnv({ CREDPROXY_LOG_LEVEL: "debug", ...options.env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stderr = { text: "" };
    child.stdout!.on("data", (chunk) => (stderr.text += chunk));
    child.stderr!.on("data", (chunk) => (stderr.text += chunk));
    const exit = new Promise<number | null>((resolveExit) => child.on("close", (code) => resolveExit(code)));

    const url = await new Promise<string>((resolveUrl, reject) => {
      const deadline = setTimeout(() => reject(new Error(`CredProxy did not start within 30 s:\n${stderr.text}`)), 30_000);
      const check = () => {
        const apiUrl = /"url":"(http:\/\/[^"]+)"/.exec(stderr.text);
        const ready = options.readyPattern ? options.readyPattern.exec(stderr.text) : apiUrl;
        if (ready) {
          clearTimeout(deadline);
          resolveUrl(apiUrl?.[1] ?? ready[1]);
        }
      };
      child.stderr!.on("data", check);
      exit.then((code) => {
        clearTimeout(deadline);
        reject(new Error(`CredProxy exited with ${code} before listening:\n${stderr.text}`));
      });
    });
    const label = options.label ?? `${target.name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    return new CredProxyProcess(child, url, stderr, secrets, label, exit);
  }

  /** Everything the process wrote to standard output and standard error so far. */
  get logs(): string {
    return this.#stderr.text;
  }

  /** Parsed JSON log lines written so far. */
  logRecords(): Record<string, unknown>[] {
    return this.logs.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
  }

  /** GET `path` with an optional Authorization header; served secrets are remembered for the audit. */
  async request(path: string, authorization?: string): Promise<{ status: number; body: any; headers: Headers }> {
    const response = await fetch(new URL(path, this.url), { headers: authorization === undefined ? {} : { authorization } });
    const text = await response.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: the test gets the text.
    }
    if (body && typeof body === "object") {
      for (const key of ["SecretAccessKey", "Token"]) if (typeof body[key] === "string") this.secrets.add(body[key]);
    }
    if (authorization) this.secrets.add(authorization);
    return { status: response.status, body, headers: response.headers };
  }

  /** Sends `signal`, waits for the exit and writes the logs for the audit; returns the exit status. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    // process.kill() rather than child.kill(): after child.kill(), Deno's node:child_process
    // reports the signal instead of the exit status the process chose in its handler.
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    const code = await this.#exit;
    clearTimeout(timer);
    this.saveLogs();
    return code;
  }

  /** Waits for the process to exit by itself. */
  exited(): Promise<number | null> {
    return this.#exit;
  }

  /** Writes the logs and known secrets to the audit folder, when the test runner set one. */
  saveLogs(): void {
    const directory = process.env.CREDPROXY_TEST_LOG_DIR;
    if (!directory) return;
    writeFileSync(join(directory, `${this.#label}.log`), this.logs);
    writeFileSync(join(directory, `${this.#label}.secrets`), JSON.stringify([...this.secrets]));
  }
}

/** Sets `server.port` to 0 unless the test chose a port. */
function withFreePort(config: unknown): unknown {
  const document = structuredClone(config) as Record<string, any>;
  document.server = { port: 0, ...(document.server ?? {}) };
  return document;
}

/** Every value in a config object under a key that names a secret. */
export function collectSecrets(config: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, key = "") => {
    if (typeof value === "string" && /token|secret|ExternalId|TokenCode/i.test(key) && !value.includes("${")) found.push(value);
    else if (Array.isArray(value)) value.forEach((item) => visit(item));
    else if (value && typeof value === "object") for (const [name, item] of Object.entries(value)) visit(item, name);
  };
  visit(config);
  return found;
}
