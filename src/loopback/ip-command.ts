/**
 * The `ip` commands the loopback manager runs, as argv arrays, and parsers for their
 * output. Everything here is pure, because `loopback.ts` runs the commands.
 *
 * @module
 */

import { type AddressFamily, addressKey } from "./address.ts";

/**
 * Installed `ip` implementation. iproute2 prints JSON with `-j`. BusyBox's applet has no
 * `-j`, so its one-line (`-o`) format is parsed instead.
 */
export type IpFlavor = "iproute2" | "busybox";

/** Invocation of `ip`: the executable and the interface the commands act on. */
export interface IpInvocation {
  /** Path or name of the executable, such as `ip`, `/usr/sbin/ip` or `/bin/busybox`. */
  readonly ipPath: string;
  /** Interface that carries the addresses. @default "lo" */
  readonly device: string;
}

/** One address currently on the interface, as `ip` reported it. */
export interface InterfaceAddress {
  readonly family: AddressFamily;
  /** The address as `ip` printed it. */
  readonly address: string;
  readonly prefixLength: number;
}

/** Returns the leading argv words, adding the `ip` applet name when the path is `busybox`. */
function ipArgv(invocation: IpInvocation): string[] {
  const base = invocation.ipPath.split("/").pop();
  return base === "busybox" ? [invocation.ipPath, "ip"] : [invocation.ipPath];
}

/** Returns `ip -j addr show dev lo`, which prints the addresses as JSON (iproute2 only). */
export function showAddressesJsonArgv(invocation: IpInvocation): string[] {
  return [...ipArgv(invocation), "-j", "addr", "show", "dev", invocation.device];
}

/** Returns `ip -o addr show dev lo`, which prints one line per address (used for BusyBox only). */
export function showAddressesOnelineArgv(invocation: IpInvocation): string[] {
  return [...ipArgv(invocation), "-o", "addr", "show", "dev", invocation.device];
}

/** Returns `ip addr add CIDR dev DEVICE`, such as `ip addr add 169.254.170.2/32 dev lo`. */
export function addAddressArgv(invocation: IpInvocation, cidr: string): string[] {
  return [...ipArgv(invocation), "addr", "add", cidr, "dev", invocation.device];
}

/** Returns `ip addr del CIDR dev DEVICE`, the counterpart of {@linkcode addAddressArgv}. */
export function deleteAddressArgv(invocation: IpInvocation, cidr: string): string[] {
  return [...ipArgv(invocation), "addr", "del", cidr, "dev", invocation.device];
}

/**
 * Reads the addresses of `device` from `ip -j addr show dev DEVICE`.
 *
 * @throws {SyntaxError} when the text is not the JSON iproute2 prints
 */
export function parseIpJson(text: string, device: string): InterfaceAddress[] {
  const links: unknown = JSON.parse(text);
  if (!Array.isArray(links)) throw new SyntaxError("Expected a JSON array of interfaces");
  const addresses: InterfaceAddress[] = [];
  for (const link of links) {
    if (!isRecord(link) || link.ifname !== device || !Array.isArray(link.addr_info)) continue;
    for (const info of link.addr_info) {
      // iproute2 prints `{}` entries for addresses it filtered out; skip anything partial.
      if (!isRecord(info) || typeof info.local !== "string") continue;
      if (info.family !== "inet" && info.family !== "inet6") continue;
      if (typeof info.prefixlen !== "number") continue;
      addresses.push({ family: info.family, address: info.local, prefixLength: info.prefixlen });
    }
  }
  return addresses;
}

/**
 * Reads the addresses of `device` from `ip -o addr show dev DEVICE`.
 *
 * Used only for BusyBox's `ip`, which has no `-j`. iproute2's JSON shape is a stable
 * interface, but its text output is meant for people and has changed across releases, so
 * iproute2 text is never parsed. BusyBox prints one line per address:
 *
 * ```
 * 1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
 * 1: lo    inet6 ::1/128 scope host \       valid_lft forever preferred_lft forever
 * 3: eth0    inet 10.0.0.1 peer 10.0.0.2/32 brd 10.0.0.255 scope global eth0\ ...
 * ```
 *
 * Fields are split on blanks, and the interface name may carry `@peer`. A point-to-point
 * address has no prefix of its own and takes the one written after `peer`. A `\` ends
 * the fields of interest. Lines for other interfaces or families are ignored.
 */
export function parseIpOneline(text: string, device: string): InterfaceAddress[] {
  const addresses: InterfaceAddress[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split("\\")[0].trim().split(/\s+/);
    if (fields.length < 4 || !/^\d+:$/.test(fields[0])) continue;
    const name = fields[1].replace(/:$/, "").split("@")[0];
    const family = fields[2];
    if (name !== device || (family !== "inet" && family !== "inet6")) continue;

    const [address, ownPrefix] = fields[3].split("/") as [string, string | undefined];
    const peer = fields.indexOf("peer");
    const peerPrefix = peer === -1 ? undefined : fields[peer + 1]?.split("/")[1];
    const prefix = ownPrefix ?? peerPrefix ?? (family === "inet" ? "32" : "128");
    if (!/^\d{1,3}$/.test(prefix) || addressKey(address) === undefined) continue;
    addresses.push({ family, address, prefixLength: Number(prefix) });
  }
  return addresses;
}

/** Cause of a failed `ip addr add`/`del`, read from its exit code and stderr. */
export type IpFailure =
  /** The address is already there (EEXIST): someone else added it, maybe just now. */
  | "exists"
  /** The address is not there (EADDRNOTAVAIL on delete): someone else removed it. */
  | "not-found"
  /** EPERM: no CAP_NET_ADMIN. */
  | "permission-denied"
  /**
   * The kernel rejected an IPv6 address on add: "IPv6 is disabled on this device"
   * (iproute2 with extended ack), EACCES "Permission denied" (BusyBox, older iproute2), or
   * EADDRNOTAVAIL "Cannot assign requested address". Only meaningful for inet6, and only
   * once IPv6 is confirmed to be off.
   */
  | "ipv6-refused"
  /** The executable could not be started. */
  | "ip-missing"
  | "other";

/**
 * Classifies a failed `ip` run by its exit code and stderr.
 *
 * Messages differ between iproute2 with netlink extended ack ("Error: ipv4: Address
 * already assigned.") and iproute2 without it or BusyBox ("RTNETLINK answers: File
 * exists"), so each class matches all known spellings.
 */
export function classifyIpFailure(
  operation: "add" | "del",
  family: AddressFamily,
  code: number,
  stderr: string,
): IpFailure {
  // dax reports "command not found" (exit code 127). `ip netns exec` prints
  // `exec of "X" failed`, and setpriv, nsenter and similar tools print "failed to execute X".
  if (code === 127 || /command not found|exec of ".*" failed|failed to execute/i.test(stderr)) {
    return "ip-missing";
  }
  if (/Operation not permitted/i.test(stderr)) return "permission-denied";
  if (operation === "add" && /File exists|already assigned/i.test(stderr)) return "exists";
  if (operation === "del" && /Cannot assign requested address|Address not found/i.test(stderr)) {
    return "not-found";
  }
  if (
    operation === "add" && family === "inet6" &&
    /IPv6 is disabled|Permission denied|Cannot assign requested address/i.test(stderr)
  ) {
    return "ipv6-refused";
  }
  return "other";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
