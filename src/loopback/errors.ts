/**
 * The error every loopback failure becomes, so callers catch one class and branch on `kind`.
 *
 * @module
 */

/**
 * Failure class, so callers (the CLI, the server's start-up) can choose what to print:
 *
 * - `ip-missing`: no usable `ip` binary
 * - `permission-denied`: the process lacks CAP_NET_ADMIN
 * - `ipv6-disabled`: an IPv6 address was requested where IPv6 is off. The manager turns
 *   this case into a warning instead. NOTE: no code in `src/` throws this kind at present.
 * - `invalid-address`: a value that is not an IPv4 or IPv6 literal, or not a host address
 * - `command-failed`: `ip` failed in any other way, and the message contains its stderr
 */
export type LoopbackErrorKind =
  | "ip-missing"
  | "permission-denied"
  | "ipv6-disabled"
  | "invalid-address"
  | "command-failed";

/** Extra facts about a {@linkcode LoopbackError}. */
export interface LoopbackErrorOptions extends ErrorOptions {
  /** The command that failed, when one ran. */
  argv?: readonly string[];
  /** The command's stderr output, trimmed. */
  stderr?: string;
}

/** A loopback address could not be parsed, read, added or removed. */
export class LoopbackError extends Error {
  /** The class of failure; see {@linkcode LoopbackErrorKind}. */
  readonly kind: LoopbackErrorKind;
  /** The command that failed, when one ran. */
  readonly argv: readonly string[] | undefined;
  /** The command's stderr output, trimmed. */
  readonly stderr: string | undefined;

  constructor(kind: LoopbackErrorKind, message: string, options: LoopbackErrorOptions = {}) {
    super(message, options);
    this.name = "LoopbackError";
    this.kind = kind;
    this.argv = options.argv;
    this.stderr = options.stderr;
  }
}
