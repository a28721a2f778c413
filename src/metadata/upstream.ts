/**
 * The sidecar's forwarder: passes credential requests on to an upstream CredProxy over HTTP
 * and turns its failures into errors that SDKs can read.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { CREDENTIALS_PATH } from "../server/app.ts";
import { errorBody } from "../server/responses.ts";
import type { ForwardedResponse, MetadataForwarder } from "./forwarder.ts";
import { endToEndHeaders } from "./hop-by-hop.ts";

/** Maximum upstream body size, in bytes. A credentials response is well under 4 KiB. */
export const MAX_UPSTREAM_BODY_BYTES = 64 * 1024;

/** Default time an upstream request may take, in milliseconds. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 2000;

/** Options of {@linkcode createUpstreamForwarder}. */
export interface UpstreamOptions {
  /** Base URL of the upstream CredProxy API, such as `http://credproxy:1338`. */
  url: string;
  /**
   * Time an upstream request may take before the SDK gets a 504, in milliseconds. JS SDKs
   * give up after 1 s per try, botocore after 2 s.
   * @default DEFAULT_UPSTREAM_TIMEOUT_MS
   */
  timeoutMs?: number;
  /** Paths besides `/v1/credentials` that serve credentials; all go to the upstream's `/v1/credentials`. */
  credentialPaths?: readonly string[];
}

/** Request headers that the forwarder sets itself or that describe the client's connection. */
const REQUEST_HEADERS_SET_HERE = ["host", "content-length", "accept-encoding"];
/** Response headers that describe the upstream's body, which is re-encoded here. */
const RESPONSE_HEADERS_SET_HERE = ["content-length", "content-encoding", "content-type", "date", "server"];

/**
 * Checks an upstream base URL: http or https, no credentials, query or fragment.
 *
 * @throws {RangeError} naming the value and the expected form
 */
export function parseUpstreamUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RangeError(`Invalid upstream URL "${value}": expected an http URL such as http://credproxy:1338`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new RangeError(`Invalid upstream URL "${value}": expected an http or https URL`);
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new RangeError(
      `Invalid upstream URL "${value}": remove the user name, query and fragment; the base URL of the CredProxy API is enough`,
    );
  }
  return url;
}

/**
 * Creates a forwarder that sends each credentials request to the upstream CredProxy.
 *
 * Connections are kept alive by the runtime's `fetch` pool. The `Authorization` header and
 * other end-to-end headers pass through; hop-by-hop headers are dropped both ways. Failures
 * become SDK-readable JSON: 502 when the upstream cannot be reached or sends something that
 * is not JSON, 504 when it does not respond in time. The upstream's own statuses (401, 503, …)
 * pass through unchanged.
 *
 * @throws {RangeError} on an invalid URL or timeout, at start-up
 */
export function createUpstreamForwarder(options: UpstreamOptions): MetadataForwarder {
  const base = parseUpstreamUrl(options.url);
  const timeoutMs = options.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`Invalid upstream timeout ${timeoutMs} ms: expected a positive number`);
  }
  const credentialsUrl = joinPath(base, CREDENTIALS_PATH);
  const healthUrl = joinPath(base, "/health");
  const logger = getLogger(["credproxy", "metadata", "upstream"]);
  const origin = base.origin;

  async function forward(url: URL, headers: Headers): Promise<ForwardedResponse> {
    let response: Response;
    try {
      response = await fetchWithOneRetry(url, headers, timeoutMs);
    } catch (error) {
      if ((error as Error)?.name === "TimeoutError") {
        logger.warn("Upstream {origin} timed out after {timeoutMs} ms", { origin, timeoutMs });
        return {
          status: 504,
          body: errorBody("UpstreamTimeout", `The upstream CredProxy did not respond within ${timeoutMs / 1000} s`),
          headers: { "Retry-After": "1" },
          reason: "upstream timeout",
        };
      }
      logger.warn("Cannot reach upstream {origin}: {error}", { origin, error: describeError(error) });
      return {
        status: 502,
        body: errorBody("UpstreamUnreachable", "Cannot reach the upstream CredProxy; retry shortly"),
        headers: { "Retry-After": "1" },
        reason: "upstream unreachable",
      };
    }
    return await readUpstreamAnswer(response, origin);
  }

  return {
    mode: "upstream",
    credentialPaths: (options.credentialPaths ?? []).filter((path) => path !== CREDENTIALS_PATH),
    credentials(request) {
      return forward(credentialsUrl, endToEndHeaders(request.headers, REQUEST_HEADERS_SET_HERE));
    },
    async health() {
      const answer = await forward(healthUrl, new Headers({ accept: "application/json" }));
      const upstreamStatus = (answer.body as { status?: unknown } | undefined)?.status;
      if (answer.status === 200 && upstreamStatus === "ok") {
        return { status: 200, body: { status: "ok", mode: "upstream" } };
      }
      return {
        status: 503,
        body: { status: "unavailable", mode: "upstream", upstreamStatus: answer.status },
        reason: answer.reason ?? `upstream health ${answer.status}`,
      };
    },
  };
}

/**
 * Fetches once more at once when the connection fails: a kept-alive connection to an
 * upstream that restarted fails on first use, and a GET is safe to repeat. Timeouts are not
 * repeated, since the SDK is already waiting.
 */
async function fetchWithOneRetry(url: URL, headers: Headers, timeoutMs: number): Promise<Response> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return await fetch(url, { headers, signal, redirect: "manual" });
  } catch (error) {
    if ((error as Error)?.name === "TimeoutError" || signal.aborted) throw signal.reason ?? error;
    return await fetch(url, { headers, signal, redirect: "manual" });
  }
}

async function readUpstreamAnswer(response: Response, origin: string): Promise<ForwardedResponse> {
  const logger = getLogger(["credproxy", "metadata", "upstream"]);
  const badGateway = (why: string): ForwardedResponse => {
    logger.warn("Upstream {origin} sent an invalid response: {why}", { origin, why, status: response.status });
    return {
      status: 502,
      body: errorBody("BadGateway", "The upstream CredProxy sent an invalid response"),
      reason: "upstream invalid response",
    };
  };

  // Only a credentials response (200) or an error (4xx, 5xx) makes sense to an SDK. A
  // redirect or an empty 204 from the upstream means it is not CredProxy.
  if (response.status !== 200 && (response.status < 400 || response.status > 599)) {
    await response.body?.cancel();
    return badGateway(`unexpected status ${response.status}`);
  }
  let text: string;
  try {
    text = await readLimited(response, MAX_UPSTREAM_BODY_BYTES);
  } catch (error) {
    return badGateway(describeError(error));
  }
  const contentType = response.headers.get("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType)) {
    return badGateway(`content type "${contentType}" is not JSON`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return badGateway("the body is not valid JSON");
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of endToEndHeaders(response.headers, RESPONSE_HEADERS_SET_HERE)) {
    headers[name] = value;
  }
  return {
    status: response.status,
    body,
    headers,
    reason: response.status >= 400 ? `upstream ${response.status}` : undefined,
  };
}

/** Reads a body as text, failing once it passes `limit` bytes. */
async function readLimited(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new RangeError(`the body is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

function joinPath(base: URL, path: string): URL {
  const url = new URL(base.href);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
  return url;
}

/** Describes an error by its message and, for fetch's wrapped errors, the cause's code (ECONNREFUSED, …). */
function describeError(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const code = (error as { code?: string })?.code ?? cause?.code;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
