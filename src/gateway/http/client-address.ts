import type { IncomingMessage } from "node:http";
import { BlockList, isIP, type Socket } from "node:net";

/** The client address a PROXY protocol header named for a socket, kept on the socket itself. */
const PROXIED = Symbol("herald.proxied");
type ProxiedSocket = Socket & { [PROXIED]?: string };

/**
 * Where a connection comes from. The peer's address (or the one its PROXY protocol header names),
 * unless the peer is a proxy the operator trusts: then the right-most `X-Forwarded-For` entry that is
 * not itself a trusted proxy. A client can write anything into that header, so it is read only behind
 * a trusted proxy, and only from the right.
 */
export class ClientAddresses {
  private readonly trusted: BlockList | undefined;

  constructor(trustedProxies: readonly string[]) {
    if (trustedProxies.length === 0) return;
    this.trusted = new BlockList();
    for (const cidr of trustedProxies) {
      const { address, prefix } = parseCidr(cidr);
      this.trusted.addSubnet(address, prefix, isIP(address) === 6 ? "ipv6" : "ipv4");
    }
  }

  /** The TCP peer's address, or the client's a trusted balancer named in a PROXY header. */
  peerOf(socket: Socket): string {
    return (socket as ProxiedSocket)[PROXIED] ?? normalizeAddress(socket.remoteAddress ?? "");
  }

  of(req: IncomingMessage): string {
    const peer = this.peerOf(req.socket);
    if (!this.isTrusted(peer)) return peer;
    const header = req.headers["x-forwarded-for"];
    const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeAddress(hops[i]?.trim() ?? "");
      if (isIP(hop) === 0) return peer; // garbage in the chain: trust nothing left of it
      if (!this.isTrusted(hop)) return hop;
    }
    return peer;
  }

  isTrusted(address: string): boolean {
    const family = isIP(address);
    if (family === 0 || !this.trusted) return false;
    return this.trusted.check(address, family === 6 ? "ipv6" : "ipv4");
  }
}

/** Records the client address a trusted balancer's PROXY header named for this socket. */
export function setProxiedAddress(socket: Socket, address: string): void {
  (socket as ProxiedSocket)[PROXIED] = normalizeAddress(address);
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket, or in a header) is `10.0.0.1`. */
export function normalizeAddress(address: string): string {
  if (!address.includes(":")) return address;
  const v4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1];
  if (v4 !== undefined && isIP(v4) === 4) return v4;
  const groups = ipv6Groups(address);
  if (groups?.slice(0, 6).join() !== "0,0,0,0,0,65535") return address;
  const [high = 0, low = 0] = groups.slice(6); // written in hex: ::ffff:a00:1
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * What the per-address limits count by: an IPv4 address, or the IPv6 network of `ipv6Prefix` bits
 * around an IPv6 address (every IPv6 user holds a whole /64, and picks any address in it), written
 * the one canonical way (`2001:db8:0:1::/64`) however the address was spelled. Takes a normalized
 * address, so an IPv4-mapped one is already plain IPv4.
 */
export function addressKey(address: string, ipv6Prefix: number): string {
  if (!address.includes(":")) return address;
  const groups = ipv6Groups(address);
  if (!groups) return address;
  for (let i = 0; i < 8; i++) {
    const keep = Math.min(16, Math.max(0, ipv6Prefix - i * 16));
    groups[i] = groups[i]! & (keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff);
  }
  const network = formatIpv6(groups);
  return ipv6Prefix >= 128 ? network : `${network}/${ipv6Prefix}`;
}

/** The eight 16-bit groups of an IPv6 address (a zone and an IPv4 tail allowed); undefined if it is none. */
function ipv6Groups(address: string): number[] | undefined {
  const text = address.split("%")[0] ?? "";
  if (isIP(text) !== 6) return undefined;
  let head = text;
  const tail: number[] = [];
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    head = `${text.slice(0, v4.index)}0`; // the IPv4 part becomes one placeholder group, dropped below
  }
  const [left = "", right] = head.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  let groups = parse(left);
  if (right !== undefined) {
    const after = parse(right);
    const fill = 8 - (tail.length > 0 ? 1 : 0) - groups.length - after.length;
    groups = [...groups, ...Array<number>(fill).fill(0), ...after];
  }
  if (tail.length > 0) groups = [...groups.slice(0, -1), ...tail];
  return groups.length === 8 ? groups : undefined;
}

/** RFC 5952: lower-case hex, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (a /32 or /128). Throws on anything else. */
export function parseCidr(cidr: string): { address: string; prefix: number } {
  const [address = "", bits] = cidr.split("/");
  const family = isIP(address);
  const max = family === 6 ? 128 : 32;
  const prefix = bits === undefined ? max : Number(bits);
  if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max)
    throw new Error(`not an address or CIDR: ${JSON.stringify(cidr.slice(0, 64))}`);
  return { address, prefix };
}
