/**
 * Captures the LogTape records of in-process tests at debug level, through the same sink
 * as the CLI uses but without the secret redactor, and saves them for the log audit.
 */

import { configure, reset } from "@logtape/logtape";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { createSink } from "../../src/observability/logging.ts";

/** Lines captured so far and the secrets the test knows. */
export interface LogCapture {
  lines: string[];
  secrets: Set<string>;
}

/**
 * Runs `body` with every `credproxy` log record captured at debug level, then writes the
 * lines and `secrets` (plus any the body adds) to the audit folder and checks them itself.
 */
export async function withCapturedLogs(label: string, secrets: string[], body: (capture: LogCapture) => Promise<void>): Promise<void> {
  const capture: LogCapture = { lines: [], secrets: new Set(secrets) };
  await configure({
    reset: true,
    sinks: { capture: createSink({ format: "json", write: (line) => capture.lines.push(line) }) },
    loggers: [
      { category: ["credproxy"], sinks: ["capture"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
    ],
  });
  try {
    await body(capture);
  } finally {
    await reset();
    saveCapture(label, capture);
  }
  const text = capture.lines.join("");
  for (const secret of capture.secrets) {
    if (secret.length >= 8 && text.includes(secret)) throw new Error(`A secret of ${secret.length} characters appears in the logs of "${label}"`);
  }
}

/** Writes the captured lines and the known secrets to the audit folder, when there is one. */
function saveCapture(label: string, capture: LogCapture): void {
  const directory = process.env.CREDPROXY_TEST_LOG_DIR;
  if (!directory) return;
  const name = `in-process-${label.replace(/[^\w.-]+/g, "-")}-${process.pid}`;
  writeFileSync(join(directory, `${name}.log`), capture.lines.join(""));
  writeFileSync(join(directory, `${name}.secrets`), JSON.stringify([...capture.secrets]));
}
