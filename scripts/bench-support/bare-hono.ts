/**
 * The ceiling of the benchmark: one Hono route that returns a fixed JSON body, served by the
 * runtime's own HTTP server (`Deno.serve` or `Bun.serve`) with nothing in between.
 *
 *   bun scripts/bench-support/bare-hono.ts --port PORT --body-file FILE
 *   deno run -A scripts/bench-support/bare-hono.ts --port PORT --body-file FILE
 *
 * @module
 */

import { Hono } from "hono";
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";

declare const Deno: any;
declare const Bun: any;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { port: { type: "string" }, "body-file": { type: "string" } },
});
if (values.port === undefined || values["body-file"] === undefined) {
  console.error("Usage: bare-hono.ts --port PORT --body-file FILE");
  process.exit(2);
}
const port = Number(values.port);
const body = JSON.parse(readFileSync(values["body-file"], "utf8"));

const app = new Hono();
app.get("/v1/credentials", (c) => c.json(body));
app.get("/health", (c) => c.json({ status: "ok" }));

if (typeof Deno !== "undefined") {
  Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, app.fetch);
} else {
  Bun.serve({ hostname: "127.0.0.1", port, fetch: app.fetch });
}
