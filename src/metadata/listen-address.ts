/**
 * The addresses the metadata endpoint listens on, parsed from `HOST:PORT` text or
 * `{host, port}` objects.
 *
 * @module
 */

import { isIP } from "node:net";
import { addressKey, INSTANCE_METADATA_ADDRESSES, isContainerMetadataAddress } from "../loopback/address.ts";

/** One address and port the metadata endpoint listens on. */
export interface ListenAddress {
  /** An IP literal without brackets: `169.254.170.2`, `fd00:ec2::23`. */
  host: string;
  port: number;
}

/** The port SDKs use for the ECS and EKS Pod Identity addresses: plain HTTP, no port in the URI. */
export const METADATA_PORT = 80;

/**
 * Where the endpoint listens by default: the ECS address, so that RELATIVE_URI and FULL_URI
 * `http://169.254.170.2/…` work, and 127.0.0.1, so that FULL_URI `http://127.0.0.1/…`
 * works (the only form the JavaScript SDK's legacy `fromContainerMetadata` accepts).
 */
export const DEFAULT_LISTEN_ADDRESSES: readonly ListenAddress[] = [
  { host: "169.254.170.2", port: METADATA_PORT },
  { host: "127.0.0.1", port: METADATA_PORT },
];

/** The EKS Pod Identity agent's addresses, for applications configured for EKS. */
export const EKS_POD_IDENTITY_LISTEN_ADDRESSES: readonly ListenAddress[] = [
  { host: "169.254.170.23", port: METADATA_PORT },
  { host: "fd00:ec2::23", port: METADATA_PORT },
];

/**
 * Parses `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT`; the port defaults to 80.
 *
 * @throws {RangeError} naming the value, when the host is not an IP literal, is a wildcard
 * address, or the port is out of range
 *
 * @example
 * ```ts
 * parseListenAddress("[fd00:ec2::23]:80"); // { host: "fd00:ec2::23", port: 80 }
 * ```
 */
export function parseListenAddress(value: string): ListenAddress {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(value) ?? /^([^:\[\]]+)(?::(\d+))?$/.exec(value);
  if (!match) {
    // A bare IPv6 literal (`fd00:ec2::23`) has no port and no brackets.
    if (isIP(value) === 6) return checkListenAddress({ host: value, port: METADATA_PORT }, value);
    throw new RangeError(
      `Invalid listen address "${value}": expected HOST:PORT such as 169.254.170.2:80 or [fd00:ec2::23]:80`,
    );
  }
  const port = match[2] === undefined ? METADATA_PORT : Number(match[2]);
  return checkListenAddress({ host: match[1], port }, value);
}

/**
 * Checks a `{host, port}` pair: an IP literal that is not a wildcard, a port from 1 to 65535.
 *
 * @throws {RangeError} naming `shown` (the value as the user wrote it)
 */
export function checkListenAddress(address: ListenAddress, shown = formatListenAddress(address)): ListenAddress {
  const host = address.host.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host) === 0) {
    throw new RangeError(`Invalid listen address "${shown}": the host must be an IPv4 or IPv6 literal`);
  }
  if (addressKey(host) === addressKey("0.0.0.0") || addressKey(host) === addressKey("::")) {
    // A wildcard would serve credentials on every interface, not just lo.
    throw new RangeError(
      `Invalid listen address "${shown}": a wildcard address would serve credentials on every interface; name each address instead`,
    );
  }
  if (INSTANCE_METADATA_ADDRESSES.some((metadata) => addressKey(metadata) === addressKey(host))) {
    throw new RangeError(
      `Invalid listen address "${shown}": it is the EC2 instance metadata address, and serving it would hide the real instance metadata service`,
    );
  }
  if (!Number.isInteger(address.port) || address.port < 1 || address.port > 65_535) {
    throw new RangeError(`Invalid listen address "${shown}": the port must be from 1 to 65535`);
  }
  return { host: host.toLowerCase(), port: address.port };
}

/** Formats an address as `HOST:PORT`, with brackets around IPv6. */
export function formatListenAddress(address: ListenAddress): string {
  return `${formatHost(address.host)}:${address.port}`;
}

/** Brackets an IPv6 literal for use in a URL or `Host` header. */
export function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Whether the endpoint may put the address on `lo`; the rule is {@linkcode isContainerMetadataAddress}. */
export function isMetadataAddress(host: string): boolean {
  return isContainerMetadataAddress(host);
}
