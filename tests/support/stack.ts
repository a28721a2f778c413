/**
 * A fake STS and a CredProxy process configured to assume a role through it: the set-up
 * that most end-to-end tests share.
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CredProxyProcess, type LaunchTarget, tempDir } from "./credproxy-process.ts";
import { FakeSts } from "./fake-sts.ts";

/** Source keys the fake STS knows and CredProxy signs with. */
export const SOURCE_KEYS = {
  accessKeyId: "AKIAEXAMPLESOURCE001",
  secretAccessKey: "source/secret/key/EXAMPLE/0123456789abcd",
};

/** Token of the `web` service. */
export const WEB_TOKEN = "web-token-e2e-0123456789abcdef";
/** Role the `web` service assumes. */
export const WEB_ROLE_ARN = "arn:aws:iam::111122223333:role/web-app";

/** A running fake STS and CredProxy; `close()` stops both. */
export interface Stack {
  sts: FakeSts;
  proxy: CredProxyProcess;
  /** Folder for token files and other per-test files. */
  directory: string;
  /** Writes the web token to a file without a trailing newline and returns its path. */
  writeTokenFile(token?: string): string;
  close(): Promise<number | null>;
}

/** Options of {@linkcode startStack}. */
export interface StackOptions {
  target?: LaunchTarget;
  /** Replaces or adds top-level config sections and services. */
  services?: Record<string, unknown>;
  config?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  /** Runs before CredProxy starts, to set fake STS switches for the start-up fetches. */
  beforeStart?: (sts: FakeSts) => void;
}

/** Starts a fake STS and a CredProxy serving `web`, which assumes {@linkcode WEB_ROLE_ARN}. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const sts = await FakeSts.start();
  sts.addIdentity({ ...SOURCE_KEYS, arn: "arn:aws:iam::111122223333:user/credproxy" });
  options.beforeStart?.(sts);
  const directory = tempDir();
  const config = {
    aws_defaults: {
      region: "us-east-1",
      sts_endpoint: sts.url,
      iam_keys: { aws_access_key_id: SOURCE_KEYS.accessKeyId, aws_secret_access_key: SOURCE_KEYS.secretAccessKey },
    },
    services: {
      web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: WEB_ROLE_ARN } },
      ...options.services,
    },
    ...options.config,
  };
  let proxy: CredProxyProcess;
  try {
    proxy = await CredProxyProcess.start({ config, target: options.target, env: options.env });
  } catch (error) {
    await sts.stop();
    throw error;
  }
  return {
    sts,
    proxy,
    directory,
    writeTokenFile(token = WEB_TOKEN) {
      const path = join(directory, "token");
      writeFileSync(path, token, { mode: 0o600 });
      return path;
    },
    async close() {
      const code = await proxy.stop();
      await sts.stop();
      return code;
    },
  };
}
