/**
 * A TCP front for the runtime's HTTP server. It enforces limits that neither `Deno.serve`
 * nor `Bun.serve` can be configured with: a cap on open connections, a deadline for each
 * request's headers (slow clients), a bound on header size, and an idle timeout between
 * requests.
 *
 * The HTTP server itself listens on an ephemeral 127.0.0.1 port; the guard listens on the
 * configured address and copies bytes both ways. It never parses HTTP beyond finding the
 * blank line that ends a request's headers, which is enough because no route reads a body.
 *
 * @module
 */

import { connect, createServer, type Server, type Socket } from "node:net";

/** Limits the guard enforces on every connection. */
export interface ConnectionLimits {
  /** Open client connections at most; more are closed at once. @default 512 */
  maxConnections?: number;
  /** Time a client has to send a request's headers, from its first byte (or from connect), in milliseconds. @default 10000 */
  headersTimeoutMs?: number;
  /** Largest header block accepted, in bytes; a larger one gets 431. @default 16384 */
  maxHeaderBytes?: number;
  /** Time a connection may sit between requests before it is closed, in milliseconds. @default 30000 */
  idleTimeoutMs?: number;
}

/** A running guard. */
export interface ConnectionGuard {
  /** Port the guard listens on. */
  readonly port: number;
  /** Returns the client address of the guard's upstream connection from `localPort`, if it is one. */
  peerOf(upstreamLocalPort: number): string | undefined;
  /** Number of client connections open now. */
  readonly connections: number;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

const END_OF_HEADERS = Buffer.from("\r\n\r\n");

/**
 * Listens on `hostname:port` and forwards every accepted connection to `127.0.0.1:upstreamPort`.
 *
 * Rejects when the address cannot be bound.
 */
export async function startConnectionGuard(
  options: { hostname: string; port: number; upstreamPort: number } & ConnectionLimits,
): Promise<ConnectionGuard> {
  const maxConnections = options.maxConnections ?? 512;
  const headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
  const maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const clients = new Set<Socket>();
  const peers = new Map<number, string>();

  // Deadlines are times checked by one sweep, not a timer per connection: re-arming a timer
  // for every request and every response chunk cost more than the rest of the guard's work.
  // A deadline is therefore enforced up to one sweep interval late.
  const deadlines = new Map<Socket, { at: number; close: () => void }>();
  const sweepMs = Math.min(1000, Math.max(5, Math.min(headersTimeoutMs, idleTimeoutMs) / 10));
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const deadline of deadlines.values()) if (now >= deadline.at) deadline.close();
  }, sweepMs);
  (sweeper as { unref?: () => void }).unref?.();

  const server: Server = createServer({ allowHalfOpen: false }, (client) => {
    if (clients.size >= maxConnections) {
      client.destroy();
      return;
    }
    clients.add(client);
    const peer = client.remoteAddress ?? "";
    const upstream = connect({ host: "127.0.0.1", port: options.upstreamPort });
    // Without TCP_NODELAY, Nagle's algorithm holds a response back until the client's
    // delayed ACK arrives, adding up to 40 ms to requests on kept-alive connections.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let upstreamPort: number | undefined;
    upstream.once("connect", () => {
      upstreamPort = upstream.localPort;
      if (upstreamPort !== undefined) peers.set(upstreamPort, peer);
    });

    // One of three states: reading a request's headers (deadline running), waiting for the
    // response, or idle between requests (idle timer running).
    let headerBytes = 0;
    let tail = Buffer.alloc(0);
    let inHeaders = true;
    const close = () => {
      deadlines.delete(client);
      client.destroy();
      upstream.destroy();
    };
    const deadline = { at: performance.now() + headersTimeoutMs, close };
    deadlines.set(client, deadline);
    const setDeadline = (ms: number | undefined) => {
      deadline.at = ms === undefined ? Infinity : performance.now() + ms;
    };

    client.on("data", (chunk: Buffer) => {
      if (!inHeaders) {
        // A new request starts: its headers get a fresh deadline.
        inHeaders = true;
        headerBytes = 0;
        tail = Buffer.alloc(0);
        setDeadline(headersTimeoutMs);
      }
      const window = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
      const end = window.indexOf(END_OF_HEADERS);
      if (end >= 0) {
        inHeaders = false;
        setDeadline(undefined);
      } else {
        headerBytes += chunk.length;
        tail = Buffer.from(window.subarray(Math.max(0, window.length - 3)));
        if (headerBytes > maxHeaderBytes) {
          setDeadline(undefined);
          client.end("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
          upstream.destroy();
          return;
        }
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      client.write(chunk);
      if (!inHeaders) setDeadline(idleTimeoutMs);
    });

    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", () => {
      clients.delete(client);
      if (upstreamPort !== undefined) peers.delete(upstreamPort);
      close();
    });
    upstream.on("close", () => client.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  return {
    port,
    peerOf: (upstreamLocalPort) => peers.get(upstreamLocalPort),
    get connections() {
      return clients.size;
    },
    close() {
      clearInterval(sweeper);
      for (const client of clients) client.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
