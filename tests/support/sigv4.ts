/**
 * AWS Signature Version 4 verification for the fake STS, written from the public
 * specification with node:crypto only, so that it checks real SDK signatures rather
 * than trusting a second copy of the SDK's own signer.
 *
 * Supports header authentication only. Presigned URLs (X-Amz-Signature in the query) are
 * not supported yet, and the fake STS rejects them with MissingAuthenticationToken.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Algorithm name that every SigV4 Authorization header starts with. */
export const SIGV4_ALGORITHM = "AWS4-HMAC-SHA256";

/** Parsed fields of a SigV4 `Authorization` header. */
export interface SigV4Authorization {
  accessKeyId: string;
  /** The scope date, `YYYYMMDD`. */
  date: string;
  region: string;
  service: string;
  /** Lower-case header names in the order the client listed them. */
  signedHeaders: string[];
  signature: string;
}

/** Request as it arrived on the wire, with enough detail to rebuild what the client signed. */
export interface SigV4Request {
  method: string;
  /** Path and query exactly as sent, e.g. `/?Action=GetCallerIdentity`. */
  rawUrl: string;
  /** Flat `[name, value, name, value, …]` list, like node:http's `rawHeaders`. */
  rawHeaders: string[];
  body: Uint8Array;
}

/**
 * Splits a SigV4 `Authorization` header into its fields. Returns undefined when the header
 * is not a well-formed SigV4 header.
 *
 * @example
 * ```ts
 * parseAuthorization("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab12");
 * ```
 */
export function parseAuthorization(header: string): SigV4Authorization | undefined {
  const match = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(header.trim());
  if (!match) return undefined;
  const fields = new Map<string, string>();
  for (const part of match[1].split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get("Credential")?.split("/");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (!credential || credential.length !== 5 || credential[4] !== "aws4_request") return undefined;
  if (!signedHeaders || !signature) return undefined;
  const [accessKeyId, date, region, service] = credential;
  return {
    accessKeyId,
    date,
    region,
    service,
    signedHeaders: signedHeaders.split(";").map((name) => name.toLowerCase()),
    signature: signature.toLowerCase(),
  };
}

/** Rebuilds the SigV4 canonical request that the client must have signed. */
export function canonicalRequest(request: SigV4Request, signedHeaders: string[]): string {
  const queryAt = request.rawUrl.indexOf("?");
  const rawPath = queryAt < 0 ? request.rawUrl : request.rawUrl.slice(0, queryAt);
  const rawQuery = queryAt < 0 ? "" : request.rawUrl.slice(queryAt + 1);
  const headers = headerValues(request.rawHeaders);
  const contentSha256 = headers.get("x-amz-content-sha256");
  return [
    request.method.toUpperCase(),
    canonicalPath(rawPath),
    canonicalQuery(rawQuery),
    signedHeaders.map((name) => `${name}:${headers.get(name) ?? ""}\n`).join(""),
    signedHeaders.join(";"),
    contentSha256 ?? sha256Hex(request.body),
  ].join("\n");
}

/** Returns the SigV4 string to sign, whose HMAC is the signature. */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [SIGV4_ALGORITHM, amzDate, scope, sha256Hex(canonical)].join("\n");
}

/** Derives the per-day, per-region, per-service signing key from a secret access key. */
export function signingKey(
  secretAccessKey: string,
  date: string,
  region: string,
  service: string,
): Uint8Array {
  const kDate = hmac(`AWS4${secretAccessKey}`, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, "aws4_request");
}

/**
 * Recomputes the signature of a request with the given secret and compares it with the one
 * in its Authorization header, in constant time.
 */
export function verifySignature(
  request: SigV4Request,
  authorization: SigV4Authorization,
  amzDate: string,
  secretAccessKey: string,
): boolean {
  const scope = [authorization.date, authorization.region, authorization.service, "aws4_request"]
    .join("/");
  // The payload hash header replaces the body in the signature, so it must match the body.
  // Otherwise a body swapped in transit would pass under the old header.
  const declared = headerValues(request.rawHeaders).get("x-amz-content-sha256");
  if (
    declared !== undefined && /^[0-9a-f]{64}$/i.test(declared) &&
    declared.toLowerCase() !== sha256Hex(request.body)
  ) {
    return false;
  }
  const canonical = canonicalRequest(request, authorization.signedHeaders);
  const key = signingKey(
    secretAccessKey,
    authorization.date,
    authorization.region,
    authorization.service,
  );
  const expected = createHmac("sha256", key).update(stringToSign(amzDate, scope, canonical))
    .digest();
  const given = /^[0-9a-f]{64}$/.test(authorization.signature)
    ? Buffer.from(authorization.signature, "hex")
    : undefined;
  return given !== undefined && timingSafeEqual(expected, given);
}

/**
 * Returns header values by lower-case name, with repeated headers joined by commas and runs of
 * whitespace collapsed to one space.
 */
export function headerValues(rawHeaders: string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1].trim().replace(/\s+/g, " ");
    const before = values.get(name);
    values.set(name, before === undefined ? value : `${before},${value}`);
  }
  return values;
}

/** Percent-encodes every character except `A-Za-z0-9-_.~`, as SigV4 requires. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

// Non-S3 services encode the (already encoded) path once more, segment by segment,
// after removing `.` and `..` segments.
function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(uriEncode(segment));
  }
  const trailing = rawPath.endsWith("/") && segments.length > 0 ? "/" : "";
  return `/${segments.join("/")}${trailing}`;
}

function canonicalQuery(rawQuery: string): string {
  const pairs: [string, string][] = [];
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = uriEncode(decode(eq < 0 ? part : part.slice(0, eq)));
    const value = uriEncode(decode(eq < 0 ? "" : part.slice(eq + 1)));
    if (name.toLowerCase() !== "x-amz-signature") pairs.push([name, value]);
  }
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join("&");
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Uint8Array, data: string): Uint8Array {
  return createHmac("sha256", key).update(data).digest();
}
