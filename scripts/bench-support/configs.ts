/**
 * Config files the benchmark runs CredProxy with. Every service uses locally minted
 * credentials unless it names the fake STS, so nothing reaches AWS.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** Token of the `web` service; tokens of the other services are derived from their index. */
export const WEB_TOKEN = "bench-web-token-0123456789";

/** Source keys the fake STS knows and the cold-burst config signs with. */
export const SOURCE_KEYS = { accessKeyId: "AKIABENCHSOURCE00001", secretAccessKey: "bench/source/secret/EXAMPLE/0123456789ab" };

const LOCAL_SOURCE = { local: { account_id: "000000000000", duration_seconds: 3600 } };

/** Options of {@linkcode writeLocalConfig}. */
export interface LocalConfigOptions {
  port: number;
  /** Number of services; the first is `web` with {@linkcode WEB_TOKEN}. @default 1 */
  services?: number;
  /** Serve the metadata endpoint in-process on 127.0.0.1 at this port (no address is added). */
  metadataPort?: number;
}

/** Writes a config of services with locally minted credentials and returns its path. */
export function writeLocalConfig(directory: string, name: string, options: LocalConfigOptions): string {
  const services: Record<string, unknown> = { web: { auth_token: WEB_TOKEN, source_credentials: LOCAL_SOURCE } };
  for (let index = 1; index < (options.services ?? 1); index++) {
    services[`service-${index}`] = { auth_token: `bench-token-${String(index).padStart(6, "0")}-abcdef`, source_credentials: LOCAL_SOURCE };
  }
  const config: Record<string, unknown> = { server: { host: "127.0.0.1", port: options.port }, services };
  if (options.metadataPort !== undefined) {
    config.metadata = { enabled: true, listen: [`127.0.0.1:${options.metadataPort}`], add_addresses: false };
  }
  return writeJson(directory, name, config);
}

/** Writes a config whose `web` service assumes a role through the STS at `stsUrl`. */
export function writeStsConfig(directory: string, name: string, port: number, stsUrl: string): string {
  return writeJson(directory, name, {
    server: { host: "127.0.0.1", port },
    aws_defaults: {
      region: "us-east-1",
      sts_endpoint: stsUrl,
      iam_keys: { aws_access_key_id: SOURCE_KEYS.accessKeyId, aws_secret_access_key: SOURCE_KEYS.secretAccessKey },
    },
    services: { web: { auth_token: WEB_TOKEN, assumed_role: { RoleArn: "arn:aws:iam::111122223333:role/bench" } } },
  });
}

function writeJson(directory: string, name: string, config: unknown): string {
  const path = join(directory, `${name}.json`);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}
