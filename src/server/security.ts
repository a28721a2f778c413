/**
 * Hono middleware that guards the HTTP surface: response headers, request limits and the
 * refusal of browser requests.
 *
 * @module
 */

import type { Context, MiddlewareHandler, Next } from "hono";
import { errorBody } from "./responses.ts";

/** Largest total size of request headers accepted, in bytes (names, values and separators). */
export const MAX_HEADER_BYTES = 8 * 1024;

/** Requests handled at once before new ones get 503; bounds memory under a flood. */
export const MAX_REQUESTS_IN_FLIGHT = 1024;

/** Options of {@linkcode requestLimits}. */
export interface RequestLimitOptions {
  /** @default MAX_HEADER_BYTES */
  maxHeaderBytes?: number;
  /** @default MAX_REQUESTS_IN_FLIGHT */
  maxInFlight?: number;
}

/**
 * The CORS response headers of the Fetch standard and of Private Network Access: the only
 * ones a browser reads when it decides whether a web page may see a response.
 */
const CORS_RESPONSE_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-allow-private-network",
  "access-control-expose-headers",
  "access-control-max-age",
];

/**
 * Sets the headers every response carries and removes any CORS header: credentials must
 * never be cached, framed, sniffed as another type or readable by a web page.
 */
export function setSecurityHeaders(headers: Headers): void {
  headers.set("Cache-Control", "no-store");
  headers.set("X-Content-Type-Options", "nosniff");
  headers.set("X-Frame-Options", "DENY");
  headers.set("Referrer-Policy", "no-referrer");
  headers.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  headers.set("Cross-Origin-Resource-Policy", "same-origin");
  // Named look-ups rather than a scan of every header: Deno sorts the whole list on each
  // iteration, which made this function cost 11 us a response there instead of 2.
  for (const name of CORS_RESPONSE_HEADERS) {
    if (headers.has(name)) headers.delete(name);
  }
}

/**
 * Rejects requests no SDK sends before any handler looks at them:
 *
 * - headers larger than `maxHeaderBytes` (431), because a token is at most 4096 characters;
 * - a request body (400), because no route reads one and a body is a way to hold a
 *   connection open;
 * - an `Origin` header (403), because only browsers send it, and a web page has no
 *   business asking for AWS credentials (cross-site requests, DNS rebinding);
 * - more than `maxInFlight` requests at once (503 with Retry-After).
 */
export function requestLimits(options: RequestLimitOptions = {}): MiddlewareHandler {
  const maxHeaderBytes = options.maxHeaderBytes ?? MAX_HEADER_BYTES;
  const maxInFlight = options.maxInFlight ?? MAX_REQUESTS_IN_FLIGHT;
  if (!(maxHeaderBytes > 0)) throw new RangeError(`maxHeaderBytes must be positive, got ${maxHeaderBytes}`);
  if (!(maxInFlight > 0)) throw new RangeError(`maxInFlight must be positive, got ${maxInFlight}`);
  let inFlight = 0;

  return async function limitRequest(c: Context, next: Next) {
    const rejection = rejectionOf(c.req.raw, maxHeaderBytes);
    if (rejection) {
      c.set("reason", rejection.reason);
      return c.json(errorBody(rejection.code, rejection.message), rejection.status);
    }
    if (inFlight >= maxInFlight) {
      c.set("reason", "too many requests in flight");
      c.header("Retry-After", "1");
      return c.json(errorBody("ServiceUnavailable", "CredProxy is busy; retry shortly"), 503);
    }
    inFlight += 1;
    try {
      await next();
    } finally {
      inFlight -= 1;
    }
  };
}

interface Rejection {
  status: 400 | 403 | 431;
  code: string;
  message: string;
  reason: string;
}

function rejectionOf(request: Request, maxHeaderBytes: number): Rejection | undefined {
  let headerBytes = 0;
  for (const [name, value] of request.headers) headerBytes += name.length + value.length + 4;
  if (headerBytes > maxHeaderBytes) {
    return {
      status: 431,
      code: "RequestHeaderFieldsTooLarge",
      message: `Request headers are larger than ${maxHeaderBytes} bytes`,
      reason: "headers too large",
    };
  }

  const length = request.headers.get("content-length");
  if ((length !== null && length.trim() !== "0") || request.headers.has("transfer-encoding")) {
    return {
      status: 400,
      code: "InvalidRequest",
      message: "CredProxy requests carry no body; send the request without one",
      reason: "request body",
    };
  }

  if (request.headers.has("origin")) {
    return {
      status: 403,
      code: "Forbidden",
      message: "Requests from web pages are not served",
      reason: "browser origin",
    };
  }
  return undefined;
}
