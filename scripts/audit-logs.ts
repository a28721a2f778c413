/**
 * Checks every log that the test suite's CredProxy processes wrote for secrets.
 *
 * Each `NAME.log` in the folder has a `NAME.secrets` beside it: a JSON array of the tokens,
 * secret keys and session tokens that process knew or served. Exits 1 when any of them
 * appears in any log line. With `--require-logs`, also exits 1 when there were no logs to
 * check, since a full test run always starts CredProxy processes.
 *
 * Usage: bun scripts/audit-logs.ts LOG_DIR [--require-logs]
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import process from "node:process";

const directory = process.argv[2] ?? ".test-reports/logs";
const logs = existsSync(directory) ? readdirSync(directory).filter((name) => name.endsWith(".log")) : [];
if (logs.length === 0) {
  if (process.argv.includes("--require-logs")) {
    console.log(`Log audit failed: no logs in ${directory}; the end-to-end tests should have written some`);
    process.exit(1);
  }
  console.log("Log audit passed: no CredProxy process ran in the selected tests");
  process.exit(0);
}

let lines = 0;
let secrets = 0;
const leaks: string[] = [];
for (const name of logs) {
  const text = readFileSync(`${directory}/${name}`, "utf8");
  lines += text.split("\n").filter(Boolean).length;
  const secretsPath = `${directory}/${name.replace(/\.log$/, ".secrets")}`;
  const known: string[] = existsSync(secretsPath) ? JSON.parse(readFileSync(secretsPath, "utf8")) : [];
  secrets += known.length;
  for (const secret of known) {
    if (secret.length >= 8 && text.includes(secret)) {
      // The length identifies the leak; the value stays out of this output too.
      leaks.push(`${name}: a secret of ${secret.length} characters appears in the log`);
    }
  }
}

if (leaks.length > 0) {
  console.log(`Log audit failed: ${leaks.length} secrets found in logs:\n${leaks.join("\n")}`);
  process.exit(1);
}
console.log(`Log audit passed: ${lines} log lines from ${logs.length} processes, ${secrets} known secrets, none found`);
