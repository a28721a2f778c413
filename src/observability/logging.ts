/**
 * Logging set-up: LogTape records, written to standard error as JSON lines or readable text,
 * with secrets removed before a line is written.
 *
 * @module
 */

import { configure, getTextFormatter, type LogLevel, type LogRecord, type Sink, reset } from "@logtape/logtape";
import { redactByField } from "@logtape/redaction";
import process from "node:process";
import { skipFieldRedactionWhenClean } from "./field-redaction.ts";
import { SecretRedactor } from "./redactor.ts";

/** Log levels accepted by `--log-level` and `CREDPROXY_LOG_LEVEL`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** Lowest level written. @default "info" */
  level?: LogLevel;
  /** `json`: one JSON object a line, for machines; `text`: readable lines for a terminal. @default "json" */
  format?: "json" | "text";
  /** Known secret values, replaced in every line before it is written. */
  redactor?: SecretRedactor;
  /** Where finished lines go. @default standard error */
  write?: (line: string) => void;
}

/** Field names whose values are always replaced, whatever the value looks like. */
const SECRET_FIELDS = [
  /^(auth_?)?token$/i,
  /^session_?token$/i,
  /secret/i,
  /password/i,
  /passphrase/i,
  /^credentials$/i,
  /^authorization$/i,
  /^external_?id$/i,
  /^token_?code$/i,
];

/**
 * Configures LogTape for the whole process; call once, at the entry point.
 *
 * Libraries and request handlers only call `getLogger(["credproxy", …])`.
 */
export async function setupLogging(options: LoggingOptions = {}): Promise<void> {
  await configure({
    reset: true,
    sinks: { main: createSink(options) },
    loggers: [
      { category: ["credproxy"], sinks: ["main"], lowestLevel: options.level ?? "info" },
      { category: ["logtape", "meta"], sinks: ["main"], lowestLevel: "warning" },
    ],
  });
}

/** Removes CredProxy's logging configuration, as tests do between runs. */
export async function teardownLogging(): Promise<void> {
  await reset();
}

/**
 * Builds the sink: field redaction by name first, then formatting, then replacement of any
 * known secret value that still made it into the text (in a message or an error's text).
 */
export function createSink(options: LoggingOptions = {}): Sink {
  const format = options.format === "text"
    ? getTextFormatter({ timestamp: "date-time-tz", value: (value) => inspectValue(value) })
    : formatJsonLine;
  const redactor = options.redactor;
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const sink: Sink = (record: LogRecord) => {
    const line = format(record);
    write(redactor ? redactor.redact(line) : line);
  };
  const redacting = redactByField(sink, { fieldPatterns: SECRET_FIELDS, action: () => "[REDACTED]" }) as Sink;
  return skipFieldRedactionWhenClean(sink, redacting, SECRET_FIELDS);
}

/**
 * Formats a record as one JSON object: time, level, logger, the message with its values
 * filled in as plain text, and the properties at the top level for log processors.
 */
export function formatJsonLine(record: LogRecord): string {
  const message = record.message.map((part, index) => (index % 2 === 0 ? String(part) : inspectValue(part))).join("");
  const properties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record.properties)) {
    properties[key] = value instanceof Error ? `${value.name}: ${value.message}` : value;
  }
  return `${JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message,
    ...properties,
  })}\n`;
}

function inspectValue(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
