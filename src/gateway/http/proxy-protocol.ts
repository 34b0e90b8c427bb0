import * as v from "valibot";
import { formatIpv6 } from "./client-address.js";

/**
 * The PROXY protocol header an L4 balancer (HAProxy `send-proxy`/`send-proxy-v2`, an AWS NLB, a
 * cloud load balancer) writes before the client's bytes, so the server learns the client's address
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt). Version 1 is one text line of at
 * most 107 bytes; version 2 a 16-byte binary head and as many more bytes as its length field says.
 */
export type ProxyHeader =
  | { readonly state: "incomplete" }
  | { readonly state: "invalid"; readonly why: string }
  /** `source` is undefined when the header names no client: the balancer's own connection (a health check). */
  | { readonly state: "complete"; readonly length: number; readonly source: string | undefined };

/** The longest version 1 header, its CRLF included. */
export const V1_MAX_BYTES = 107;
const V1_PREFIX = Buffer.from("PROXY ", "latin1");
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_HEAD_BYTES = 16;

const INCOMPLETE: ProxyHeader = { state: "incomplete" };

const Port = v.pipe(v.string(), v.regex(/^\d{1,5}$/), v.transform(Number), v.maxValue(65_535));
/** `PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>`, or `PROXY UNKNOWN …`. */
const V1Line = v.union([
  v.strictTuple([
    v.literal("PROXY"),
    v.literal("TCP4"),
    v.pipe(v.string(), v.ipv4()),
    v.pipe(v.string(), v.ipv4()),
    Port,
    Port,
  ]),
  v.strictTuple([
    v.literal("PROXY"),
    v.literal("TCP6"),
    v.pipe(v.string(), v.ipv6()),
    v.pipe(v.string(), v.ipv6()),
    Port,
    Port,
  ]),
  v.pipe(
    v.array(v.string()),
    v.check((words) => words[0] === "PROXY" && words[1] === "UNKNOWN"),
  ),
]);

/** Reads a PROXY header (either version) from the start of what a connection sent so far. */
export function parseProxyHeader(data: Buffer): ProxyHeader {
  if (data.length === 0) return INCOMPLETE;
  if (data[0] === V1_PREFIX[0]) return parseV1(data);
  if (data[0] === V2_SIGNATURE[0]) return parseV2(data);
  return { state: "invalid", why: "no PROXY protocol header" };
}

/** Whether these bytes start like a PROXY header (for telling one apart in a refused HTTP request). */
export function startsLikeProxyHeader(data: Buffer): boolean {
  return (
    (data.length >= V1_PREFIX.length && startsWith(data, V1_PREFIX)) ||
    (data.length >= V2_SIGNATURE.length && startsWith(data, V2_SIGNATURE))
  );
}

function parseV1(data: Buffer): ProxyHeader {
  if (!startsWith(data, V1_PREFIX)) return { state: "invalid", why: "no PROXY protocol header" };
  const end = data.subarray(0, V1_MAX_BYTES).indexOf("\r\n");
  if (end < 0)
    return data.length >= V1_MAX_BYTES
      ? { state: "invalid", why: `a version 1 header longer than ${V1_MAX_BYTES} bytes` }
      : INCOMPLETE;
  const parsed = v.safeParse(V1Line, data.toString("latin1", 0, end).split(" "));
  if (!parsed.success) return { state: "invalid", why: "a malformed version 1 header" };
  const words = parsed.output;
  const source = words[1] === "UNKNOWN" ? undefined : words[2];
  return { state: "complete", length: end + 2, source };
}

function parseV2(data: Buffer): ProxyHeader {
  if (!startsWith(data, V2_SIGNATURE)) return { state: "invalid", why: "no PROXY protocol header" };
  if (data.length < V2_HEAD_BYTES) return INCOMPLETE;
  const version = data[12]! >> 4;
  const command = data[12]! & 0x0f;
  const family = data[13]! >> 4;
  const length = V2_HEAD_BYTES + data.readUInt16BE(14);
  if (version !== 2 || command > 1)
    return { state: "invalid", why: "a version 2 header of an unknown version or command" };
  if (data.length < length) return INCOMPLETE;
  // LOCAL: the balancer's own connection; UNSPEC and UNIX families: no address to take
  if (command === 0 || family === 0 || family === 3) return { state: "complete", length, source: undefined };
  const body = data.subarray(V2_HEAD_BYTES, length);
  if (family === 1 && body.length >= 12)
    return { state: "complete", length, source: Array.from(body.subarray(0, 4)).join(".") };
  if (family === 2 && body.length >= 36) {
    const groups = Array.from({ length: 8 }, (_, i) => body.readUInt16BE(i * 2));
    return { state: "complete", length, source: formatIpv6(groups) };
  }
  return {
    state: "invalid",
    why: "a version 2 header with an unknown address family or a short address block",
  };
}

/** Whether `data` starts with `prefix`, or with as much of it as `data` holds. */
function startsWith(data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length);
  return data.subarray(0, n).equals(prefix.subarray(0, n));
}
