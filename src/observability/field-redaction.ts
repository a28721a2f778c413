/**
 * A fast path around `redactByField` from `@logtape/redaction` for records with nothing to
 * redact by field name.
 *
 * `redactByField` copies every record and tests every property name against every pattern,
 * which made up about a third of a warm credentials request under Bun. A request log line
 * has the same flat property names every time, so the result for each name and each
 * message template is cached, and records that cannot contain a field to redact skip the copy.
 *
 * @module
 */

import type { LogRecord, Sink } from "@logtape/logtape";

/** Maximum names and templates cached; beyond that, results are computed each time. */
const MAX_REMEMBERED = 1000;

/**
 * Returns a sink that sends a record to `plain` when no property name and no placeholder of
 * its message template matches `patterns` and every property value is a primitive, and to
 * `redacting` (the `redactByField` wrapper of `plain`) otherwise. Records with nested
 * objects, arrays or errors always take the full path, since names inside them may match.
 */
export function skipFieldRedactionWhenClean(plain: Sink, redacting: Sink, patterns: readonly RegExp[]): Sink {
  const nameMatches = new Map<string, boolean>();
  const templateMatches = new Map<string, boolean>();

  const matches = (name: string): boolean => {
    let matched = nameMatches.get(name);
    if (matched === undefined) {
      // The patterns are neither global nor sticky, so test() keeps no state between calls.
      matched = name === "*" || patterns.some((pattern) => pattern.test(name));
      if (nameMatches.size < MAX_REMEMBERED) nameMatches.set(name, matched);
    }
    return matched;
  };

  const templateIsClean = (template: string): boolean => {
    let clean = templateMatches.get(template);
    if (clean === undefined) {
      clean = placeholderNames(template).every((name) => !matches(name));
      if (templateMatches.size < MAX_REMEMBERED) templateMatches.set(template, clean);
    }
    return clean;
  };

  const sink: Sink = (record: LogRecord) => {
    if (typeof record.rawMessage !== "string" || !templateIsClean(record.rawMessage)) return redacting(record);
    const properties = record.properties;
    for (const name in properties) {
      const value = properties[name];
      if ((typeof value === "object" && value !== null) || typeof value === "function" || matches(name)) return redacting(record);
    }
    plain(record);
  };
  return sink;
}

/** Extracts the names between braces in a LogTape message template; `{{` is an escaped brace. */
function placeholderNames(template: string): string[] {
  const names: string[] = [];
  for (let index = 0; index < template.length; index++) {
    if (template[index] !== "{") continue;
    if (template[index + 1] === "{") {
      index++;
      continue;
    }
    const close = template.indexOf("}", index + 1);
    if (close === -1) break;
    names.push(template.slice(index + 1, close).trim());
    index = close;
  }
  return names;
}
