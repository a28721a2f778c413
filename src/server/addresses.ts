/**
 * Address checks used when binding and when judging peers.
 *
 * @module
 */

import { isIPv4, isIPv6 } from "node:net";

/** Returns whether `host` is a loopback literal or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost") return true;
  if (isIPv4(bare)) return bare.startsWith("127.");
  if (isIPv6(bare)) return bare === "::1" || bare === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(bare);
  return false;
}
