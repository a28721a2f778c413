/**
 * Reads the JUnit reports of a test run and prints the closing line `N passed, N failed`
 * over every runtime, plus the log audit as one more test.
 *
 * Usage: bun scripts/summarize-tests.ts REPORT_DIR AUDIT_EXIT_STATUS
 */

import { existsSync, readFileSync } from "node:fs";
import process from "node:process";

const [directory = ".test-reports", auditStatus = "0"] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;

for (const runtime of ["deno", "bun"]) {
  const path = `${directory}/${runtime}.xml`;
  if (!existsSync(path)) {
    if (existsSync(`${directory}/${runtime}.status`)) {
      console.log(`${runtime}: no JUnit report was written; counted as one failure`);
      failed += 1;
    }
    continue;
  }
  const counts = countTestCases(readFileSync(path, "utf8"));
  // A runner that failed outside any test (a file that does not load, a crash) still fails the run.
  const statusPath = `${directory}/${runtime}.status`;
  const exitStatus = existsSync(statusPath) ? readFileSync(statusPath, "utf8").trim() : "0";
  if (exitStatus !== "0" && counts.failed === 0) {
    console.log(`${runtime}: the runner exited with status ${exitStatus} outside any test; counted as one failure`);
    counts.failed = 1;
  }
  console.log(`${runtime}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  passed += counts.passed;
  failed += counts.failed;
  skipped += counts.skipped;
}

if (auditStatus === "0") passed += 1;
else failed += 1;

console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);

function countTestCases(xml: string): { passed: number; failed: number; skipped: number } {
  let passedCount = 0;
  let failedCount = 0;
  let skippedCount = 0;
  // Each <testcase ...>...</testcase> or <testcase .../>; a failure or error child marks it failed.
  const testCase = /<testcase\b[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const match of xml.matchAll(testCase)) {
    const body = match[1] ?? "";
    if (/<(failure|error)\b/.test(body)) failedCount++;
    else if (/<skipped\b/.test(body)) skippedCount++;
    else passedCount++;
  }
  return { passed: passedCount, failed: failedCount, skipped: skippedCount };
}
