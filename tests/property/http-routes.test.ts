import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import { CredentialBroker } from "../../src/credentials/broker.ts";
import { CredentialsError } from "../../src/credentials/errors.ts";
import type { ServedCredentials } from "../../src/credentials/types.ts";
import { createApp } from "../../src/server/app.ts";
import { ServiceRegistry } from "../../src/services/registry.ts";
import { CredProxyProcess } from "../support/credproxy-process.ts";

const WEB_TOKEN = "property-web-token-0123456789";
const DENIED_TOKEN = "property-denied-token-0123456";
const SERVED: ServedCredentials = {
  accessKeyId: "ASIAPROPERTYEXAMPLE1",
  secretAccessKey: "property-secret-access-key-000000000000",
  sessionToken: "property-session-token-value-0000",
  expiration: new Date(Date.now() + 3_600_000),
};
const SECRETS = [WEB_TOKEN, DENIED_TOKEN, SERVED.secretAccessKey, SERVED.sessionToken];

const method = fc.oneof(
  fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"),
  fc.stringMatching(/^[A-Z]{1,10}$/),
);
const segment = fc.oneof(
  fc.constantFrom("v1", "credentials", "health", "ready", "metrics", "..", ".", "%2e%2e", "%00", "v1%2Fcredentials", ""),
  fc.stringMatching(/^[\w.~%-]{0,12}$/),
);
const path = fc.tuple(fc.array(segment, { maxLength: 5 }), fc.option(fc.stringMatching(/^[\w=&%.-]{0,20}$/)))
  .map(([segments, query]) => `/${segments.join("/")}${query === null ? "" : `?${query}`}`);
const authorization = fc.oneof(
  fc.constantFrom(WEB_TOKEN, DENIED_TOKEN, `Bearer ${WEB_TOKEN}`, `${WEB_TOKEN} `, WEB_TOKEN.slice(0, -1), "", " "),
  fc.stringMatching(/^[\x21-\x7e]{0,64}$/),
  fc.string({ maxLength: 40 }),
);
const headerName = fc.oneof(
  fc.constantFrom("x-forwarded-for", "host", "origin", "content-length", "transfer-encoding", "cookie", "x-amz-date", "accept"),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
);
const headers = fc.dictionary(headerName, fc.stringMatching(/^[\x20-\x7e]{0,40}$/), { maxKeys: 4 });

/**
 * Checks one response: no 5xx, except /ready's 503, which reports the failing `denied`
 * service rather than anything about the request; served keys only to the web token.
 */
function assertSafe(status: number, body: string, sentToken: string | undefined, route: string, label: string): void {
  if (!(route === "/ready" && status === 503)) assert.ok(status < 500, `${label} → ${status}`);
  const allowed = status === 200 && sentToken !== undefined && sentToken.includes(WEB_TOKEN) ? [SERVED.secretAccessKey, SERVED.sessionToken] : [];
  for (const secret of SECRETS) {
    if (!allowed.includes(secret)) assert.ok(!body.includes(secret), `${label} → ${status} echoed ${secret.slice(0, 8)}…`);
  }
}

function inProcessApp() {
  const registry = new ServiceRegistry();
  const broker = (service: string, fetch: () => Promise<ServedCredentials>) =>
    new CredentialBroker({ service, fetch, refreshBufferSeconds: 60, retryDelaySeconds: 1 });
  registry.set({ name: "web", origin: "config", broker: broker("web", () => Promise.resolve(SERVED)) }, WEB_TOKEN);
  registry.set({ name: "denied", origin: "config", broker: broker("denied", () => Promise.reject(new CredentialsError("AccessDenied", `denied for ${DENIED_TOKEN}`))) }, DENIED_TOKEN);
  return createApp({ registry });
}

test("API routes never answer 5xx or leak a secret in-process", async () => {
  const app = inProcessApp();
  await fc.assert(
    fc.asyncProperty(method, path, fc.option(authorization, { nil: undefined }), headers, fc.nat(3), async (verb, target, token, extra, peer) => {
      let request: Request;
      try {
        const init: Record<string, string> = { ...extra };
        if (token !== undefined) init.authorization = token;
        request = new Request(`http://127.0.0.1${target}`, { method: verb, headers: init });
      } catch {
        return; // Not a request any client could send.
      }
      const response = await app.request(request, undefined, { remoteAddress: `127.0.0.${peer + 1}` });
      assertSafe(response.status, await response.text(), token, new URL(request.url).pathname, `${verb} ${target}`);
    }),
    { numRuns: 300 },
  );
});

/** Sends raw bytes and returns the status code of the response, or 0 when the server closed without one. */
function rawRequest(url: string, text: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => socket.end(text));
    let received = "";
    socket.on("data", (chunk) => (received += chunk));
    socket.on("error", () => {});
    socket.setTimeout(5000, () => socket.destroy());
    socket.on("close", () => {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      resolve({ status: status ? Number(status[1]) : 0, body: received });
    });
  });
}

test("a real process never answers 5xx or leaks a secret", async () => {
  const proxy = await CredProxyProcess.start({
    config: { services: { web: { auth_token: WEB_TOKEN, source_credentials: { local: {} } } } },
  });
  try {
    const line = fc.stringMatching(/^[\x20-\x7e]{0,60}$/);
    await fc.assert(
      fc.asyncProperty(method, path, fc.option(authorization, { nil: undefined }), fc.array(line, { maxLength: 3 }), async (verb, target, token, junk) => {
        const headerLines = ["Host: 127.0.0.1", ...(token === undefined ? [] : [`Authorization: ${token}`]), ...junk, "Connection: close"];
        const { status, body } = await rawRequest(proxy.url, `${verb} ${target} HTTP/1.1\r\n${headerLines.join("\r\n")}\r\n\r\n`);
        assert.ok(status < 500, `${verb} ${target} → ${status}`);
        // The process serves minted credentials: only the configured token is a known secret here.
        assert.ok(!(body.includes(WEB_TOKEN) && status !== 200), `${verb} ${target} echoed the token`);
      }),
      { numRuns: 40 },
    );
    assert.equal((await proxy.request("/health")).status, 200);
  } finally {
    await proxy.stop();
  }
});
