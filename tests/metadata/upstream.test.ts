import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { test } from "node:test";
import { createUpstreamForwarder, parseUpstreamUrl } from "../../src/metadata/upstream.ts";

/** Starts a local HTTP server that responds with `handler` and records requests and connections. */
async function startUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const requests: { url: string; headers: IncomingHttpHeaders }[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? "", headers: req.headers });
    handler(req, res);
  });
  server.on("connection", (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    connections: () => connections,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function credentialsRequest(headers: Record<string, string>) {
  return { path: "/v1/credentials", authorization: headers.authorization, headers: new Headers(headers) };
}

test("upstream forwarder passes the token and end-to-end headers, drops hop-by-hop ones", async () => {
  const upstream = await startUpstream((_req, res) => json(res, 200, { AccessKeyId: "ASIAEXAMPLE" }, { "x-upstream": "yes", "keep-alive": "timeout=5" }));
  try {
    const forwarder = createUpstreamForwarder({ url: upstream.url });
    const answer = await forwarder.credentials(credentialsRequest({
      authorization: "web-token-0123456789abcdef",
      "user-agent": "aws-sdk-js/3",
      host: "169.254.170.2",
      connection: "x-private, keep-alive",
      "x-private": "connection scoped",
      "proxy-authorization": "Basic c2VjcmV0",
      te: "trailers",
    }));

    assert.deepEqual({ status: answer.status, body: answer.body }, { status: 200, body: { AccessKeyId: "ASIAEXAMPLE" } });
    assert.equal(answer.headers?.["x-upstream"], "yes");
    assert.equal(answer.headers?.["keep-alive"], undefined);
    const sent = upstream.requests[0];
    assert.equal(sent.url, "/v1/credentials");
    assert.equal(sent.headers.authorization, "web-token-0123456789abcdef");
    assert.equal(sent.headers["user-agent"], "aws-sdk-js/3");
    assert.equal(sent.headers.host, new URL(upstream.url).host);
    for (const name of ["x-private", "proxy-authorization", "te"]) {
      assert.equal(sent.headers[name], undefined, `${name} was forwarded`);
    }
  } finally {
    await upstream.close();
  }
});

test("upstream forwarder reuses connections across requests", async () => {
  const upstream = await startUpstream((_req, res) => json(res, 200, { AccessKeyId: "ASIAEXAMPLE" }));
  try {
    const forwarder = createUpstreamForwarder({ url: upstream.url });
    for (let i = 0; i < 5; i++) {
      assert.equal((await forwarder.credentials(credentialsRequest({ authorization: "t" }))).status, 200);
    }

    assert.equal(upstream.requests.length, 5);
    // Deno's fetch sometimes opens a second connection before the first is back in its pool;
    // without keep-alive there would be one per request.
    assert.ok(upstream.connections() <= 2, `${upstream.connections()} connections for 5 requests`);
  } finally {
    await upstream.close();
  }
});

test("upstream forwarder passes the upstream's error statuses through", async () => {
  const body = { Code: "InvalidToken", Message: "The authorization token is not valid", code: "InvalidToken", message: "The authorization token is not valid" };
  const upstream = await startUpstream((req, res) =>
    req.headers.authorization === "bad" ? json(res, 401, body) : json(res, 503, { Code: "Throttling" }, { "retry-after": "1" })
  );
  try {
    const forwarder = createUpstreamForwarder({ url: upstream.url });
    const unauthorized = await forwarder.credentials(credentialsRequest({ authorization: "bad" }));
    const unavailable = await forwarder.credentials(credentialsRequest({ authorization: "other" }));

    assert.deepEqual({ status: unauthorized.status, body: unauthorized.body }, { status: 401, body });
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers?.["retry-after"], "1");
  } finally {
    await upstream.close();
  }
});

test("upstream forwarder answers 502 when the upstream is not listening", async () => {
  const upstream = await startUpstream(() => {});
  const url = upstream.url;
  await upstream.close();

  const answer = await createUpstreamForwarder({ url }).credentials(credentialsRequest({ authorization: "t" }));

  assert.deepEqual(answer, {
    status: 502,
    body: {
      Code: "UpstreamUnreachable",
      Message: "Cannot reach the upstream CredProxy; retry shortly",
      code: "UpstreamUnreachable",
      message: "Cannot reach the upstream CredProxy; retry shortly",
    },
    headers: { "Retry-After": "1" },
    reason: "upstream unreachable",
  });
});

test("upstream forwarder answers 504 when the upstream does not answer in time", async () => {
  const upstream = await startUpstream(() => {/* never answers */});
  try {
    const answer = await createUpstreamForwarder({ url: upstream.url, timeoutMs: 200 }).credentials(credentialsRequest({ authorization: "t" }));

    assert.equal(answer.status, 504);
    assert.deepEqual(answer.body, {
      Code: "UpstreamTimeout",
      Message: "The upstream CredProxy did not respond within 0.2 s",
      code: "UpstreamTimeout",
      message: "The upstream CredProxy did not respond within 0.2 s",
    });
    assert.equal(upstream.requests.length, 1, "a timed-out request is not repeated");
  } finally {
    await upstream.close();
  }
});

test("upstream forwarder answers 502 for answers that are not CredProxy's", async () => {
  const cases: [string, (res: ServerResponse) => void][] = [
    ["HTML", (res) => res.writeHead(200, { "content-type": "text/html" }).end("<html></html>")],
    ["broken JSON", (res) => res.writeHead(200, { "content-type": "application/json" }).end("{")],
    ["redirect", (res) => res.writeHead(302, { location: "http://example.com/" }).end()],
    ["huge body", (res) => res.writeHead(200, { "content-type": "application/json" }).end(`"${"x".repeat(100_000)}"`)],
  ];
  for (const [name, answer] of cases) {
    const upstream = await startUpstream((_req, res) => answer(res));
    try {
      const result = await createUpstreamForwarder({ url: upstream.url }).credentials(credentialsRequest({ authorization: "t" }));

      assert.equal(result.status, 502, name);
      assert.equal((result.body as { Code: string }).Code, "BadGateway", name);
    } finally {
      await upstream.close();
    }
  }
});

test("upstream forwarder health is ok only when the upstream's is", async () => {
  let healthy = false;
  const upstream = await startUpstream((_req, res) => healthy ? json(res, 200, { status: "ok" }) : json(res, 503, { status: "starting" }));
  try {
    const forwarder = createUpstreamForwarder({ url: `${upstream.url}/` });
    const before = await forwarder.health();
    healthy = true;
    const after = await forwarder.health();

    assert.equal(before.status, 503);
    assert.deepEqual(after, { status: 200, body: { status: "ok", mode: "upstream" } });
    assert.deepEqual(upstream.requests.map((request) => request.url), ["/health", "/health"]);
  } finally {
    await upstream.close();
  }
});

test("parseUpstreamUrl() rejects what is not a plain http base URL", () => {
  assert.equal(parseUpstreamUrl("http://credproxy:1338").href, "http://credproxy:1338/");
  assert.throws(() => parseUpstreamUrl("credproxy:1338"), /Invalid upstream URL "credproxy:1338": expected an http or https URL/);
  assert.throws(() => parseUpstreamUrl("not a url"), /expected an http URL such as http:\/\/credproxy:1338/);
  assert.throws(() => parseUpstreamUrl("http://user:pw@credproxy:1338"), /remove the user name, query and fragment/);
  assert.throws(() => parseUpstreamUrl("http://credproxy:1338/?x=1"), /remove the user name, query and fragment/);
});
