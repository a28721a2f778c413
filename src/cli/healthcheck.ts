/**
 * `credproxy healthcheck`: probe a running CredProxy, for images that have no curl.
 *
 * @module
 */

import type { CliIo } from "./main.ts";

/**
 * Requests `url` and returns 0 when the response is 200 with `{"status": "ok"}`, 1 otherwise.
 */
export async function runHealthcheck(url: string, timeoutMs: number, io: Pick<CliIo, "stdout" | "stderr">): Promise<number> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
  } catch (error) {
    const reason = (error as Error)?.name === "TimeoutError" ? `no response within ${timeoutMs / 1000} s` : (error as Error).message;
    io.stderr(`Unhealthy: cannot reach ${url}: ${reason}\n`);
    return 1;
  }

  const text = await response.text();
  let status: unknown;
  try {
    status = (JSON.parse(text) as { status?: unknown }).status;
  } catch {
    status = undefined;
  }
  if (response.status === 200 && status === "ok") {
    io.stdout(`Healthy: ${url}\n`);
    return 0;
  }
  io.stderr(`Unhealthy: ${url} returned ${response.status}${typeof status === "string" ? ` with status "${status}"` : ""}\n`);
  return 1;
}
