/**
 * Set-ups for the metadata endpoint's namespace tests: the fake STS as a child process
 * inside a namespace, CredProxy and its sidecar inside namespaces, two namespaces joined by
 * a veth pair, and real clients run inside a namespace.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { AWS_CLI, type ClientResult, DEBIAN_PYTHON, runClient } from "../support/clients.ts";
import { CredProxyProcess, type LaunchTarget, ROOT, safeEnv, sourceTarget, tempDir } from "../support/credproxy-process.ts";
import { NetworkNamespace } from "../support/netns.ts";
import { SOURCE_KEYS, WEB_ROLE_ARN, WEB_TOKEN } from "../support/stack.ts";

export { WEB_TOKEN };

/** The ARN GetCallerIdentity returns for the role the `web` service assumes. */
export const ASSUMED_ARN = /^arn:aws:sts::111122223333:assumed-role\/web-app\/credproxy-web$/;

/** Log text of a started metadata endpoint; its first group is the first URL served. */
export const METADATA_READY = /Metadata endpoint serving at (http:\/\/[^ ",]+)/;

/** One call the fake STS program reported. */
export interface StsCallLine {
  action: string;
  accessKeyId: string;
  signatureValid: boolean;
  status: number;
  errorCode?: string;
}

/** The fake STS running as a child process inside a namespace. */
export interface FakeStsProcess {
  url: string;
  calls: StsCallLine[];
  stop(): Promise<void>;
}

/** Returns the argv of the runtime running the tests, without a script: `[deno, run, --allow-all]` or `[bun]`. */
export function runtimeArgv(): string[] {
  return sourceTarget().argv.slice(0, -1);
}

/** Starts the fake STS program inside `ns`, knowing CredProxy's source keys. */
export async function startFakeStsIn(ns: NetworkNamespace): Promise<FakeStsProcess> {
  const identities = [{ ...SOURCE_KEYS, arn: "arn:aws:iam::111122223333:user/credproxy" }];
  const child = spawn(ns.execPrefix[0], [...ns.execPrefix.slice(1), ...runtimeArgv(), join(ROOT, "tests/support/fake-sts-server.ts")], {
    env: safeEnv({ FAKE_STS_IDENTITIES: JSON.stringify(identities) }),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const calls: StsCallLine[] = [];
  let buffered = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("The fake STS did not start within 20 s")), 20_000);
    child.stdout!.on("data", (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        if (line.url) {
          clearTimeout(timer);
          resolve(line.url);
        }
        if (line.call) calls.push(line.call);
      }
    });
    child.on("close", (code) => reject(new Error(`The fake STS exited with ${code} before listening`)));
  });
  return { url, calls, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  child.kill("SIGTERM");
  return closed;
}

/** Config of a CredProxy whose `web` service assumes a role through the fake STS at `stsUrl`. */
export function assumeRoleConfig(stsUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    aws_defaults: {
      region: "us-east-1",
      sts_endpoint: stsUrl,
      iam_keys: { aws_access_key_id: SOURCE_KEYS.accessKeyId, aws_secret_access_key: SOURCE_KEYS.secretAccessKey },
    },
    services: { web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: WEB_ROLE_ARN } } },
    ...extra,
  };
}

/** Config of a CredProxy whose `web` service mints local credentials: no STS needed. */
export function localConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    services: { web: { auth_token: WEB_TOKEN, source_credentials: { local: { account_id: "111122223333" } } } },
    ...extra,
  };
}

/** Starts `credproxy serve` inside `ns`; with `metadata`, waits for the metadata endpoint too. */
export function startCredProxyIn(
  ns: NetworkNamespace,
  target: LaunchTarget,
  config: Record<string, unknown>,
  options: { args?: string[]; metadata?: boolean } = {},
): Promise<CredProxyProcess> {
  return CredProxyProcess.start({
    config,
    target,
    args: options.args,
    prefix: ns.execPrefix,
    readyPattern: options.metadata ? METADATA_READY : undefined,
  });
}

/** Starts `credproxy sidecar ARGS` inside `ns` and waits until its endpoint listens. */
export function startSidecarIn(
  ns: NetworkNamespace,
  target: LaunchTarget,
  args: string[],
  prefix: string[] = [],
): Promise<CredProxyProcess> {
  return CredProxyProcess.start({
    config: {},
    target,
    prefix: [...ns.execPrefix, ...prefix],
    command: ["sidecar", ...args],
    readyPattern: METADATA_READY,
    secrets: [WEB_TOKEN],
    label: `${target.name}-sidecar-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
  });
}

/** Runs a CredProxy command (such as `healthcheck`) inside `ns` to completion. */
export function runCredProxyIn(ns: NetworkNamespace, target: LaunchTarget, args: string[]): Promise<ClientResult> {
  return runClient([...ns.execPrefix, ...target.argv, ...args], {});
}

/** Two namespaces joined by a veth pair: `a` has 10.201.0.1/30, `b` has 10.201.0.2/30. */
export interface NamespacePair extends AsyncDisposable {
  a: NetworkNamespace;
  b: NetworkNamespace;
}

export const ADDRESS_A = "10.201.0.1";
export const ADDRESS_B = "10.201.0.2";

/** Creates two namespaces and the veth pair between them, entirely inside the namespaces. */
export async function createNamespacePair(label: string): Promise<NamespacePair> {
  const a = await NetworkNamespace.create(`${label}-a`);
  let b: NetworkNamespace | undefined;
  try {
    b = await NetworkNamespace.create(`${label}-b`);
    // Created inside a and moved straight into b: the host's namespace never sees the pair.
    await a.exec(["ip", "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b.name]);
    await a.exec(["ip", "addr", "add", `${ADDRESS_A}/30`, "dev", "veth-a"]);
    await b.exec(["ip", "addr", "add", `${ADDRESS_B}/30`, "dev", "veth-b"]);
    await a.exec(["ip", "link", "set", "veth-a", "up"]);
    await b.exec(["ip", "link", "set", "veth-b", "up"]);
  } catch (error) {
    await b?.delete();
    await a.delete();
    throw error;
  }
  const pair = b;
  return {
    a,
    b: pair,
    async [Symbol.asyncDispose]() {
      await pair.delete();
      await a.delete();
    },
  };
}

/** Writes the web token to a file without a trailing newline and returns its path. */
export function writeTokenFile(token = WEB_TOKEN): string {
  const path = join(tempDir(), "token");
  writeFileSync(path, token, { mode: 0o600 });
  return path;
}

/** A real client and how it is run. */
export type ClientKind = "aws-cli" | "botocore" | "fromHttp" | "fromContainerMetadata" | "defaultChain";

/** Runs a real client inside `ns` with the container variables in `env`; it calls GetCallerIdentity at `stsUrl`. */
export async function runClientIn(
  ns: NetworkNamespace,
  kind: ClientKind,
  stsUrl: string,
  env: Record<string, string>,
): Promise<ClientResult> {
  if (kind === "aws-cli") {
    const result = await runClient(
      [...ns.execPrefix, AWS_CLI, "sts", "get-caller-identity", "--endpoint-url", stsUrl, "--region", "us-east-1", "--output", "json"],
      { AWS_MAX_ATTEMPTS: "1", AWS_PAGER: "", ...env },
    );
    if (result.code === 0 && result.json) result.json = { arn: result.json.Arn };
    return result;
  }
  if (kind === "botocore") {
    return await runClient([...ns.execPrefix, DEBIAN_PYTHON, join(ROOT, "tests/support/clients/botocore-client.py"), stsUrl], env);
  }
  return await runClient([...ns.execPrefix, ...runtimeArgv(), join(ROOT, "tests/support/clients/js-client.ts"), kind, stsUrl], env);
}

/** GETs `url` with curl inside `ns`; returns the status and parsed body. */
export async function curlIn(
  ns: NetworkNamespace,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  // --max-time bounds a hang. A correct endpoint responds long before.
  const result = await ns.exec(["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", ...headerArgs, url], { noThrow: true });
  assert.equal(result.code, 0, `curl ${url} failed: ${result.stderr}`);
  const newline = result.stdout.lastIndexOf("\n");
  const text = result.stdout.slice(0, newline);
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the test sees the text.
  }
  return { status: Number(result.stdout.slice(newline + 1)), body };
}

/** Returns the prefix lengths of `address` on `lo` inside `ns`, one entry per assignment. */
export async function prefixLengthsOnLo(ns: NetworkNamespace, address: string): Promise<number[]> {
  const shown = await ns.exec(["ip", "-j", "addr", "show", "dev", "lo"]);
  const info = JSON.parse(shown.stdout)[0].addr_info as { local: string; prefixlen: number }[];
  return info.filter((entry) => entry.local === address).map((entry) => entry.prefixlen);
}

/** Polls `check` every 200 ms until it returns true, at most `timeoutMs`. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Maps `items` through `run`, at most `limit` at a time. Clients start slowly (Python,
 * a JavaScript runtime), and a dozen at once on two cores can push one past its SDK's
 * 1 to 2 s credential timeout.
 */
export async function mapConcurrently<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
