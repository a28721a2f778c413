/**
 * Runs real AWS clients (the JavaScript SDK, botocore, the AWS CLI v2) as child processes
 * with a container-credentials environment, and returns what they printed.
 */

import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT, safeEnv, sourceTarget } from "./credproxy-process.ts";

/** Debian's AWS CLI v2; another `aws` may come first on PATH. */
export const AWS_CLI = "/usr/bin/aws";
/** Debian's Python, which has Debian's botocore (another Python on PATH may have another). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

/** What a client child process printed and how it exited. */
export interface ClientResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The JSON line the client printed, when it printed one. */
  json?: Record<string, string>;
}

/** Runs a command with the safe test environment plus `env`, and collects its output. */
export function runClient(argv: string[], env: Record<string, string | undefined>, timeoutMs = 30_000): Promise<ClientResult> {
  const child = spawn(argv[0], argv.slice(1), { env: safeEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${argv.join(" ")} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, json: parseJsonOutput(stdout) });
    });
  });
}

/** Reads the one JSON document a client printed (the AWS CLI prints it across several lines). */
function parseJsonOutput(stdout: string): Record<string, string> | undefined {
  const start = stdout.indexOf("{");
  if (start < 0) return undefined;
  try {
    return JSON.parse(stdout.slice(start));
  } catch {
    return undefined;
  }
}

/** The JavaScript SDK client, under the runtime running the tests. */
export function runJsClient(mode: "fromHttp" | "fromContainerMetadata" | "defaultChain", stsEndpoint: string, env: Record<string, string | undefined>) {
  const runtime = sourceTarget().argv.slice(0, -1);
  return runClient([...runtime, join(ROOT, "tests/support/clients/js-client.ts"), mode, stsEndpoint], env);
}

/** botocore's default credential chain under Debian's Python. */
export function runBotocore(stsEndpoint: string, env: Record<string, string | undefined>) {
  return runClient([DEBIAN_PYTHON, join(ROOT, "tests/support/clients/botocore-client.py"), stsEndpoint], env);
}

/** `aws sts get-caller-identity` with the AWS CLI v2. */
export async function runAwsCli(stsEndpoint: string, env: Record<string, string | undefined>): Promise<ClientResult> {
  const result = await runClient(
    [AWS_CLI, "sts", "get-caller-identity", "--endpoint-url", stsEndpoint, "--region", "us-east-1", "--output", "json"],
    { AWS_MAX_ATTEMPTS: "1", AWS_PAGER: "", ...env },
  );
  if (result.code === 0 && result.json) result.json = { arn: result.json.Arn, account: result.json.Account };
  return result;
}
