/**
 * Shared set-up of the dynamic service tests: a real temporary directory watched by
 * LiveServices, with services whose credentials are minted locally (no STS).
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { validateDocument } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { LiveServices } from "../../src/services/dynamic/live-services.ts";
import type { SyncResult } from "../../src/services/dynamic/service-sync.ts";
import { ServiceRegistry } from "../../src/services/registry.ts";

/** Scan interval the tests use, in milliseconds. */
export const INTERVAL_MS = 60;

/** Returns a service with locally minted credentials and the given token. */
export function localService(token: string, durationSeconds = 3600): Record<string, unknown> {
  return { auth_token: token, source_credentials: { local: { duration_seconds: durationSeconds } } };
}

/** Returns a token of at least the minimum length, distinct per label. */
export function tokenFor(label: string): string {
  return `token-${label}-${"x".repeat(16)}`;
}

/** Writes a dynamic service file with a `services:` key. */
export function writeServices(path: string, services: Record<string, unknown>): void {
  writeFileSync(path, stringify({ services }));
}

/** Builds a validated config watching `directories`. */
export function configFor(directories: string[], extra: Record<string, unknown> = {}, includePatterns?: string[]): Config {
  const document = {
    services: {},
    ...extra,
    dynamic_services: {
      enabled: true,
      reload_interval: INTERVAL_MS / 1000,
      directories: directories.map((path) => (includePatterns ? { path, include_patterns: includePatterns } : { path })),
    },
  };
  return validateDocument(document, "test.yaml", { env: {} }).config;
}

/** A running LiveServices and what it applied. */
export interface Harness {
  live: LiveServices;
  registry: ServiceRegistry;
  applied: SyncResult[];
  /** Names of the services served now, sorted. */
  names(): string[];
  stop(): Promise<void>;
}

/** Starts LiveServices on `config`. */
export async function startHarness(config: Config, options: { useEvents?: boolean } = {}): Promise<Harness> {
  const registry = new ServiceRegistry();
  const applied: SyncResult[] = [];
  const live = new LiveServices({
    registry,
    config,
    configPath: "test.yaml",
    context: { env: {} },
    useEvents: options.useEvents,
    onApplied: (result) => applied.push(result),
  });
  await live.start();
  return {
    live,
    registry,
    applied,
    names: () => registry.list().map((service) => service.name).sort(),
    async stop() {
      await live.stop();
      registry.clear();
    },
  };
}

/** Creates a temporary directory; `removeDir` deletes it. */
export function makeDir(prefix = "credproxy-dynamic-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** Waits until `condition` holds, checking every 10 ms; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Changes applied, ignoring applies that changed nothing. */
export function changesOf(applied: SyncResult[]): SyncResult[] {
  return applied.filter((result) => result.added.length + result.updated.length + result.removed.length > 0);
}
