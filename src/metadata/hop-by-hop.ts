/**
 * Hop-by-hop headers (RFC 9110, section 7.6.1): they describe one connection and must not
 * be passed on by a proxy.
 *
 * @module
 */

/** Headers that always belong to one connection, lower case. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Returns a copy of `headers` without hop-by-hop headers, without the headers that
 * `Connection` names, and without the names in `alsoDrop` (lower case).
 */
export function endToEndHeaders(headers: Headers, alsoDrop: readonly string[] = []): Headers {
  const named = (headers.get("connection") ?? "").split(",").map((name) => name.trim().toLowerCase());
  const dropped = new Set([...HOP_BY_HOP_HEADERS, ...named, ...alsoDrop]);
  const copy = new Headers();
  for (const [name, value] of headers) {
    if (!dropped.has(name.toLowerCase())) copy.append(name, value);
  }
  return copy;
}
