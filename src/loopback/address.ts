/**
 * Parsing and comparing the host addresses CredProxy puts on `lo`.
 *
 * Only single-host addresses are handled: IPv4 as /32 and IPv6 as /128. A wider prefix
 * would add a route for a whole subnet to `lo`, which is never what a metadata endpoint
 * needs.
 *
 * @module
 */

import { LoopbackError } from "./errors.ts";

/** The ECS container metadata address (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`). */
export const ECS_ADDRESS = "169.254.170.2";
/** The EKS Pod Identity agent's IPv4 address. */
export const EKS_POD_IDENTITY_IPV4_ADDRESS = "169.254.170.23";
/** The EKS Pod Identity agent's IPv6 address. */
export const EKS_POD_IDENTITY_IPV6_ADDRESS = "fd00:ec2::23";

/**
 * EC2 instance metadata addresses. Putting one on `lo` would cut the host off from its real
 * instance metadata service, so they are never container metadata addresses here.
 */
export const INSTANCE_METADATA_ADDRESSES = ["169.254.169.254", "fd00:ec2::254"] as const;

/**
 * Whether CredProxy may put `literal` on `lo`: IPv4 link-local (169.254.0.0/16, which
 * contains the ECS and EKS addresses) or the EKS Pod Identity IPv6 address, but never an
 * instance metadata address. Any other address is on `lo` already (127.0.0.0/8, ::1) or
 * belongs to a real interface.
 */
export function isContainerMetadataAddress(literal: string): boolean {
  const key = addressKey(literal);
  if (key === undefined) return false;
  if (INSTANCE_METADATA_ADDRESSES.some((address) => addressKey(address) === key)) return false;
  if (parseIPv4(literal)) return literal.startsWith("169.254.");
  return key === addressKey(EKS_POD_IDENTITY_IPV6_ADDRESS);
}

/** `inet` for IPv4, `inet6` for IPv6, as `ip` names them. */
export type AddressFamily = "inet" | "inet6";

/** A validated host address. */
export interface HostAddress {
  /** The address in canonical text form: dotted quad, or RFC 5952 IPv6. */
  readonly address: string;
  readonly family: AddressFamily;
  /** 32 for IPv4, 128 for IPv6. */
  readonly prefixLength: 32 | 128;
  /** The address with its prefix, as `ip addr add` takes it: `169.254.170.2/32`. */
  readonly cidr: string;
}

/**
 * Parses an IPv4 or IPv6 literal, optionally written with its host prefix (`/32`, `/128`).
 *
 * @throws {LoopbackError} of kind `invalid-address`, naming the value, when it is not a
 * literal or has another prefix
 *
 * @example
 * ```ts
 * parseHostAddress("fd00:0ec2:0:0::23").cidr; // "fd00:ec2::23/128"
 * ```
 */
export function parseHostAddress(value: string): HostAddress {
  const slash = value.indexOf("/");
  const literal = slash === -1 ? value : value.slice(0, slash);
  const prefix = slash === -1 ? undefined : value.slice(slash + 1);

  const v4 = parseIPv4(literal);
  const v6 = v4 ? undefined : parseIPv6(literal);
  if (!v4 && !v6) {
    throw new LoopbackError(
      "invalid-address",
      `Invalid loopback address "${value}": not an IPv4 or IPv6 literal`,
    );
  }
  const family: AddressFamily = v4 ? "inet" : "inet6";
  const prefixLength = v4 ? 32 : 128;
  if (prefix !== undefined && prefix !== String(prefixLength)) {
    throw new LoopbackError(
      "invalid-address",
      `Invalid loopback address "${value}": only host addresses (/${prefixLength}) can be added to lo`,
    );
  }
  const address = v4 ? v4.join(".") : formatIPv6(v6!);
  return { address, family, prefixLength, cidr: `${address}/${prefixLength}` };
}

/**
 * Returns a key equal for two spellings of one address (`fd00:ec2::23` and
 * `FD00:0EC2:0:0:0:0:0:23`), or `undefined` for a value that is not a literal.
 */
export function addressKey(literal: string): string | undefined {
  const v4 = parseIPv4(literal);
  if (v4) return `4:${v4.join(".")}`;
  const v6 = parseIPv6(literal);
  if (v6) return `6:${v6.map((group) => group.toString(16).padStart(4, "0")).join("")}`;
  return undefined;
}

/** Dotted quad, four decimal octets, no leading zeros (which some tools read as octal). */
function parseIPv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    octets.push(octet);
  }
  return octets;
}

/** Eight 16-bit groups, or `undefined`. Zone indexes (`%eth0`) are refused: `lo` has none. */
function parseIPv6(text: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 2 && halves[1] !== "" ? halves[1].split(":") : [];

  const groups = (parts: string[], allowIPv4Tail: boolean): number[] | undefined => {
    const out: number[] = [];
    for (const [index, part] of parts.entries()) {
      if (allowIPv4Tail && index === parts.length - 1 && part.includes(".")) {
        const v4 = parseIPv4(part);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };

  const compressed = halves.length === 2;
  const headGroups = groups(head, !compressed);
  const tailGroups = groups(tail, true);
  if (!headGroups || !tailGroups) return undefined;
  const count = headGroups.length + tailGroups.length;
  if (compressed ? count > 7 : count !== 8) return undefined;
  return [...headGroups, ...new Array(8 - count).fill(0), ...tailGroups];
}

/** RFC 5952: lower case, no leading zeros, the longest run (2+) of zero groups as `::`. */
function formatIPv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8;) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(":");
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLength).join(":");
  return `${left}::${right}`;
}
