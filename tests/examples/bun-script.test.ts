/**
 * examples/bun-script: the library use that docs/install.md shows, run as a user would.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, runCli } from "../support/credproxy-process.ts";

const BUN = join(ROOT, "node_modules", ".bin", "bun");
const SCRIPT = join(ROOT, "examples", "bun-script", "serve.ts");

test("bun-script example serves and fetches credentials", async () => {
  const result = await runCli([], { target: { name: "bun-script", argv: [BUN, SCRIPT] } });

  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^Serving 2 services at http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(lines[1], /^Service web: HTTP 200, access key ASIA[A-Z0-9]{16}, expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});
