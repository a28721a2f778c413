/**
 * The one module that knows whether CredProxy runs under Deno or Bun.
 *
 * Everything else uses `node:` built-ins (which both runtimes provide) or the helpers here.
 * Only HTTP serving and signal handling differ enough to need a branch.
 *
 * @module
 */

import process from "node:process";
import { type ConnectionLimits, startConnectionGuard } from "./connection-guard.ts";

declare const Deno: any;
declare const Bun: any;

/** Name of the JavaScript runtime executing CredProxy. */
export type RuntimeName = "deno" | "bun" | "node";

/** Returns the name of the runtime executing this process. */
export function runtimeName(): RuntimeName {
  if (typeof Deno !== "undefined" && typeof Deno.serve === "function") return "deno";
  if (typeof Bun !== "undefined") return "bun";
  return "node";
}

/** A request handler in the Fetch API shape, as Hono's `app.fetch` is. */
export type FetchHandler = (
  request: Request,
  info: { remoteAddress: string },
) => Response | Promise<Response>;

/** Options of {@linkcode listen}. */
export interface ListenOptions {
  /** Address to bind, such as `127.0.0.1` or `::1`. */
  hostname: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Limits on client connections; defaults as in {@linkcode ConnectionLimits}. */
  limits?: ConnectionLimits;
  /**
   * Put the connection guard in front, which enforces `limits`. Without it the runtime's
   * server binds the address itself and only the runtime's own limits apply.
   * @default true
   */
  guard?: boolean;
}

/** A listening HTTP server. */
export interface Listener {
  /** Address the server is bound to. */
  readonly hostname: string;
  /** Port the server is bound to (the chosen one when 0 was requested). */
  readonly port: number;
  /**
   * Stops accepting connections and waits for requests in flight, at most `graceMs`
   * milliseconds, before closing the rest.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts an HTTP server on one address.
 *
 * Clients connect to a connection guard (see connection-guard.ts) that caps connections and
 * times out slow clients, because neither `Deno.serve` nor `Bun.serve` has options for
 * that. The runtime's server listens on an ephemeral 127.0.0.1 port behind it, and the
 * handler still gets the client's own address.
 *
 * Rejects when the address cannot be bound (in use, not assigned to any interface,
 * permission denied), so callers fail at start-up rather than on the first request.
 */
export async function listen(options: ListenOptions, handler: FetchHandler): Promise<Listener> {
  const runtime = runtimeName();
  if (runtime !== "deno" && runtime !== "bun") {
    throw new Error(`Cannot start an HTTP server under ${runtime}: run CredProxy with Deno or Bun`);
  }

  if (options.guard === false) {
    const direct: RawHandler = (request, peer) => handler(request, { remoteAddress: peer.address });
    return runtime === "deno"
      ? await listenDeno({ hostname: options.hostname, port: options.port }, direct)
      : listenBun({ hostname: options.hostname, port: options.port }, direct);
  }

  let peerOf: (port: number) => string | undefined = () => undefined;
  const guarded: RawHandler = (request, peer) => handler(request, { remoteAddress: peerOf(peer.port) ?? peer.address });
  const inner = runtime === "deno"
    ? await listenDeno({ hostname: "127.0.0.1", port: 0 }, guarded)
    : listenBun({ hostname: "127.0.0.1", port: 0 }, guarded);

  let guard;
  try {
    guard = await startConnectionGuard({ hostname: options.hostname, port: options.port, upstreamPort: inner.port, ...options.limits });
  } catch (error) {
    await inner.close(0);
    throw error;
  }
  peerOf = (port) => guard.peerOf(port);
  return {
    hostname: options.hostname,
    port: guard.port,
    async close(graceMs = 10_000) {
      await inner.close(graceMs);
      await guard.close();
    },
  };
}

/** The runtime server's handler: the request and the TCP peer it came from (the guard). */
type RawHandler = (request: Request, peer: { address: string; port: number }) => Response | Promise<Response>;

async function listenDeno(options: ListenOptions, handler: RawHandler): Promise<Listener> {
  const { promise: listening, resolve } = Promise.withResolvers<{ port: number }>();
  const server = Deno.serve(
    {
      hostname: options.hostname,
      port: options.port,
      onListen: (address: { port: number }) => resolve(address),
    },
    (request: Request, info: { remoteAddr: { hostname: string; port: number } }) =>
      handler(request, { address: info.remoteAddr.hostname, port: info.remoteAddr.port }),
  );
  const address = await listening;
  return {
    hostname: options.hostname,
    port: address.port,
    async close(graceMs = 10_000) {
      // shutdown() waits for responses in flight; the race bounds how long a slow client
      // can hold up an exit.
      await Promise.race([server.shutdown(), delay(graceMs)]);
    },
  };
}

function listenBun(options: ListenOptions, handler: RawHandler): Listener {
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    // Requests for credentials are tiny; a long idle timeout only keeps sockets of clients
    // that went away.
    idleTimeout: 30,
    // No route reads a body; this keeps Bun from buffering a large one.
    maxRequestBodySize: 64 * 1024,
    fetch(request: Request, bunServer: any) {
      const peer = bunServer.requestIP(request);
      return handler(request, { address: peer?.address ?? "", port: peer?.port ?? 0 });
    },
  });
  return {
    hostname: options.hostname,
    port: server.port,
    async close(graceMs = 10_000) {
      const graceful = server.stop(false);
      const finished = await Promise.race([graceful.then(() => true), delay(graceMs, false)]);
      if (!finished) await server.stop(true);
    },
  };
}

function delay<T>(ms: number, value?: T): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(value), ms);
    // An unreferenced timer never keeps the process alive just to time out a shutdown.
    if (typeof timer === "object" && timer && "unref" in timer) (timer as any).unref();
    else if (typeof Deno !== "undefined") Deno.unrefTimer(timer);
  });
}

/** Signals that stop the server gracefully. */
export type StopSignal = "SIGTERM" | "SIGINT";

/**
 * Calls `listener` on SIGTERM, SIGINT or SIGHUP, and returns a function that removes it.
 */
export function onSignal(
  signal: StopSignal | "SIGHUP",
  listener: () => void,
): () => void {
  if (runtimeName() === "deno") {
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  }
  process.on(signal, listener);
  return () => process.off(signal, listener);
}
