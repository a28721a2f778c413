/**
 * scripts/bench in its smoke mode, so that the script cannot rot. Nothing here checks a
 * timing: the numbers belong in docs/benchmarks.md, and a loaded CI machine would fail them.
 */

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");
const BENCH = join(ROOT, "scripts/bench");

interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
  workDirectory: string;
}

/**
 * Runs scripts/bench with `args`; with `interruptAfter`, sends SIGINT once standard error
 * shows that pattern.
 */
function runBench(args: string[], interruptAfter?: RegExp): Promise<BenchRun> {
  const child = spawn(BENCH, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let interrupted = false;
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    if (interruptAfter && !interrupted && interruptAfter.test(stderr)) {
      interrupted = true;
      process.kill(child.pid!, "SIGINT");
    }
  });
  return new Promise((resolvePromise, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const workDirectory = /Work directory (\S+)/.exec(stderr)?.[1] ?? "";
      resolvePromise({ code, stdout, stderr, workDirectory });
    });
  });
}

/** Command lines of every process that mentions `text`, such as a work directory in a config path. */
function processesMentioning(text: string): string[] {
  const listing = execFileSync("ps", ["-eo", "args="], { encoding: "utf8" });
  return listing.split("\n").filter((line) => line.includes(text) && !line.startsWith("ps "));
}

/** The smoke run takes about 20 s; a loaded machine may need much longer. */
const SMOKE_TIMEOUT_MS = 120_000;

let quickRun: Promise<BenchRun> | undefined;
/** One smoke run, shared by the tests that read its report. */
function quick(): Promise<BenchRun> {
  quickRun ??= runBench(["--quick"]);
  return quickRun;
}

test("scripts/bench --quick prints every measurement", { timeout: SMOKE_TIMEOUT_MS }, async () => {
  const run = await quick();
  assert.equal(run.code, 0, run.stderr);
  const headings = run.stdout.split("\n").filter((line) => line.startsWith("## "));
  assert.deepEqual(headings, [
    "## Run",
    "## 1. Warm credential requests, keep-alive",
    "## 2. New connection per request (`Connection: close`)",
    "## 3. Metadata endpoint: sidecar and in-process against socat",
    "## 4. Cold burst",
    "## 5. Resident memory (MiB)",
    "## 6. Start-up",
    "## Targets",
  ]);
});

test("scripts/bench --quick checks targets for each measurement", { timeout: SMOKE_TIMEOUT_MS }, async () => {
  const run = await quick();
  assert.equal(run.code, 0, run.stderr);
  const targets = run.stdout.split("## Targets")[1] ?? "";
  for (const row of [/\| warm req\/s >= 80% of bare Hono, 16 connections \| bun \|/, /\| sidecar > socat, close, 16 connections \| bun \|/, /\| 1 STS call for a cold burst of 100/, /\| no growth beyond noise/]) {
    assert.match(targets, row);
  }
});

test("scripts/bench --quick serves one STS call per cold burst", { timeout: SMOKE_TIMEOUT_MS }, async () => {
  const run = await quick();
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /\| 1 STS call for a cold burst of 100, all answered \| bun \| 1 call\(s\), 0 failed \| yes \|/);
});

test("scripts/bench leaves no process or directory behind", { timeout: SMOKE_TIMEOUT_MS }, async () => {
  const run = await quick();
  assert.notEqual(run.workDirectory, "");
  assert.deepEqual(processesMentioning(run.workDirectory), []);
  assert.equal(existsSync(run.workDirectory), false);
});

test("scripts/bench stops every server on SIGINT", { timeout: SMOKE_TIMEOUT_MS }, async () => {
  const run = await runBench(["--quick", "--only", "ceiling"], /bare Hono keep-alive/);
  assert.equal(run.code, 130, run.stderr);
  assert.notEqual(run.workDirectory, "");
  assert.deepEqual(processesMentioning(run.workDirectory), []);
  assert.equal(existsSync(run.workDirectory), false);
});
