/**
 * Version and build commit of CredProxy.
 *
 * `scripts/build` replaces the two `globalThis` lookups with constants through Bun's
 * `--define`; a source checkout run with `deno run` or `bun run` reports `dev`.
 *
 * @module
 */

declare const CREDPROXY_BUILD_VERSION: string | undefined;
declare const CREDPROXY_BUILD_COMMIT: string | undefined;

/** CredProxy's version, from package.json at build time. */
export const VERSION: string = typeof CREDPROXY_BUILD_VERSION === "string" ? CREDPROXY_BUILD_VERSION : "0.1.0-dev";

/** Git commit the binary was built from, or `unknown` when run from source. */
export const COMMIT: string = typeof CREDPROXY_BUILD_COMMIT === "string" ? CREDPROXY_BUILD_COMMIT : "unknown";
