/**
 * The one module that knows whether CredProxy runs under Deno or Bun.
 *
 * Everything else uses `node:` built-ins (which both runtimes provide) or the helpers here.
 * Only HTTP serving and signal handling differ enough to need a branch.
 *
 * @module
 */

import process from "node:process";

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
 * Rejects when the address cannot be bound (in use, not assigned to any interface,
 * permission denied), so callers fail at start-up rather than on the first request.
 */
export async function listen(options: ListenOptions, handler: FetchHandler): Promise<Listener> {
  const runtime = runtimeName();
  if (runtime === "deno") return await listenDeno(options, handler);
  if (runtime === "bun") return listenBun(options, handler);
  throw new Error(`Cannot start an HTTP server under ${runtime}: run CredProxy with Deno or Bun`);
}

async function listenDeno(options: ListenOptions, handler: FetchHandler): Promise<Listener> {
  const { promise: listening, resolve } = Promise.withResolvers<{ port: number }>();
  const server = Deno.serve(
    {
      hostname: options.hostname,
      port: options.port,
      onListen: (address: { port: number }) => resolve(address),
    },
    (request: Request, info: { remoteAddr: { hostname: string } }) =>
      handler(request, { remoteAddress: info.remoteAddr.hostname }),
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

function listenBun(options: ListenOptions, handler: FetchHandler): Listener {
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    // Requests for credentials are tiny; a long idle timeout only keeps sockets of clients
    // that went away.
    idleTimeout: 30,
    fetch(request: Request, bunServer: any) {
      const remoteAddress = bunServer.requestIP(request)?.address ?? "";
      return handler(request, { remoteAddress });
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
