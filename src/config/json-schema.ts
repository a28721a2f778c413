/**
 * The JSON Schema of the config file, generated from the valibot schema for editors.
 *
 * @module
 */

import { toJsonSchema } from "@valibot/to-json-schema";
import { ConfigSchema } from "./schema.ts";

/**
 * Returns the JSON Schema (draft-07) of CredProxy's config file.
 *
 * Keys starting with `x-` are allowed by the loader but not by this schema's
 * `additionalProperties: false`, so the generated schema admits them through
 * `patternProperties` on every object.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = toJsonSchema(ConfigSchema, { errorMode: "ignore" }) as Record<string, unknown>;
  allowExtensionKeys(schema);
  return {
    ...schema,
    $id: "https://credproxy.dev/schema/config.json",
    title: "CredProxy configuration",
  };
}

function allowExtensionKeys(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) allowExtensionKeys(item);
    return;
  }
  if (node === null || typeof node !== "object") return;
  const record = node as Record<string, unknown>;
  if (record.type === "object" && record.additionalProperties === false) {
    record.patternProperties = { "^x-": {} };
  }
  for (const value of Object.values(record)) allowExtensionKeys(value);
}
