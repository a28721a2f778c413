/**
 * The ceiling of the benchmark: one Hono route that returns a fixed JSON body, served by the
 * runtime's own HTTP server (`Deno.serve` or `Bun.serve`) with nothing in between.
 *
 *   bun scripts/bench-support/bare-hono.ts --port PORT --body-file FILE [--through-listen]
 *   deno run -A scripts/bench-support/bare-hono.ts --port PORT --body-file FILE [--through-listen]
 *
 * With `--through-listen`, the same route is served through CredProxy's `listen()` (the
 * connection guard in front of the runtime's server), which tells the cost of `listen()`
 * apart from the cost of CredProxy's request handling.
 *
 * @module
 */

import { Hono } from "hono";
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { listen } from "../../src/runtime/runtime.ts";

declare const Deno: any;
declare const Bun: any;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { port: { type: "string" }, "body-file": { type: "string" }, "through-listen": { type: "boolean" } },
});
if (values.port === undefined || values["body-file"] === undefined) {
  console.error("Usage: bare-hono.ts --port PORT --body-file FILE [--through-listen]");
  process.exit(2);
}
const port = Number(values.port);
const body = JSON.parse(readFileSync(values["body-file"], "utf8"));

const app = new Hono();
app.get("/v1/credentials", (c) => c.json(body));
app.get("/health", (c) => c.json({ status: "ok" }));

if (values["through-listen"]) {
  await listen({ hostname: "127.0.0.1", port }, (request) => app.fetch(request));
} else if (typeof Deno !== "undefined") {
  Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, app.fetch);
} else {
  Bun.serve({ hostname: "127.0.0.1", port, fetch: app.fetch });
}
