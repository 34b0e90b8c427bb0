import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";

/**
 * Where a connection comes from. The peer's address, unless the peer is a proxy the operator trusts:
 * then the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. A client can write
 * anything into that header, so it is read only behind a trusted proxy, and only from the right.
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

  of(req: IncomingMessage): string {
    const peer = normalize(req.socket.remoteAddress ?? "");
    if (!this.trusted || !this.isTrusted(peer)) return peer;
    const header = req.headers["x-forwarded-for"];
    const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalize(hops[i]?.trim() ?? "");
      if (isIP(hop) === 0) return peer; // garbage in the chain: trust nothing left of it
      if (!this.isTrusted(hop)) return hop;
    }
    return peer;
  }

  private isTrusted(address: string): boolean {
    const family = isIP(address);
    if (family === 0 || !this.trusted) return false;
    return this.trusted.check(address, family === 6 ? "ipv6" : "ipv4");
  }
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is `10.0.0.1`. */
function normalize(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
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
