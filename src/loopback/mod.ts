/**
 * Loopback addresses for the metadata emulator: add 169.254.170.2 (and the EKS Pod
 * Identity addresses) to `lo`, report them, remove what was added.
 *
 * @example
 * ```ts
 * import { createLoopbackManager, ECS_ADDRESS } from "./src/loopback/mod.ts";
 *
 * await using loopback = await createLoopbackManager();
 * const { warnings } = await loopback.add([ECS_ADDRESS]);
 * ```
 *
 * @module
 */

export {
  type AddressFamily,
  ECS_ADDRESS,
  EKS_POD_IDENTITY_IPV4_ADDRESS,
  EKS_POD_IDENTITY_IPV6_ADDRESS,
  type HostAddress,
  parseHostAddress,
} from "./address.ts";
export { LoopbackError, type LoopbackErrorKind, type LoopbackErrorOptions } from "./errors.ts";
export { type InterfaceAddress, type IpFlavor } from "./ip-command.ts";
export {
  type AddOutcome,
  type AddressChange,
  type AddressStatus,
  createLoopbackManager,
  DEFAULT_IP_CANDIDATES,
  findIpBinary,
  type FindIpBinaryOptions,
  type LoopbackChangeResult,
  LoopbackManager,
  type LoopbackManagerOptions,
  type RemoveOutcome,
} from "./loopback.ts";
export {
  LOOPBACK_USAGE,
  type LoopbackArgs,
  type LoopbackCommandIo,
  parseLoopbackArgs,
  runLoopbackCli,
  runLoopbackCommand,
  UsageError,
} from "./cli.ts";
