import { type NetConnectOpts, type Socket, connect as tcpConnect } from "node:net";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { ClientOptions } from "ws";
import { parseProxyHeader } from "../../src/gateway/http/proxy-protocol.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import type { Logger } from "../../src/gateway/logger.js";
import { waitUntil } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

test.override({ natsOptions: {}, gatewayOptions: { history: false } });

/** A version 1 header as HAProxy's `send-proxy` writes it. */
function v1(source: string): string {
  const family = source.includes(":") ? "TCP6" : "TCP4";
  const destination = source.includes(":") ? "2001:db8::80" : "10.0.0.80";
  return `PROXY ${family} ${source} ${destination} 40000 8080\r\n`;
}

const SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");

/** A version 2 header as `send-proxy-v2` writes it: PROXY (or LOCAL) over TCP, with a TLV after the addresses. */
function v2(source: string | undefined): Buffer {
  if (source === undefined) return Buffer.concat([SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]);
  const tlv = Buffer.from([0x04, 0x00, 0x02, 0xab, 0xcd]); // PP2_TYPE_NOOP, two bytes
  const six = source.includes(":");
  const address = six ? ipv6Bytes(source) : Buffer.from(source.split(".").map(Number));
  const destination = six ? ipv6Bytes("2001:db8::80") : Buffer.from([10, 0, 0, 80]);
  const ports = Buffer.from([0x9c, 0x40, 0x1f, 0x90]);
  const body = Buffer.concat([address, destination, ports, tlv]);
  const head = Buffer.from([0x21, six ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIGNATURE, head, body]);
}

/** The 16 bytes of an IPv6 address written with `::` at most once and no IPv4 tail. */
function ipv6Bytes(address: string): Buffer {
  const [left = "", right = ""] = address.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const head = groups(left);
  const tail = groups(right);
  const all = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = Buffer.alloc(16);
  for (const [i, group] of all.entries()) bytes.writeUInt16BE(group, i * 2);
  return bytes;
}

/** A WebSocket's TCP socket that writes `header` before the client's HTTP request, as an L4 balancer does. */
function behind(
  header: string | Buffer,
  localAddress = "127.0.0.2",
): Pick<ClientOptions, "createConnection" | "localAddress"> {
  const createConnection = (options: NetConnectOpts) => {
    const socket = tcpConnect({ ...options, localAddress } as NetConnectOpts);
    socket.write(header);
    return socket;
  };
  return { createConnection: createConnection as ClientOptions["createConnection"], localAddress };
}

/** Writes `parts` over raw TCP from `localAddress` (a pause between them), then resolves with all the answer. */
function rawExchange(
  port: number,
  parts: readonly (string | Buffer)[],
  localAddress = "127.0.0.2",
): Promise<string> {
  return new Promise((resolve) => {
    const tcp: Socket = tcpConnect({ port, host: "127.0.0.1", localAddress });
    let answer = "";
    tcp.on("error", () => undefined);
    tcp.on("data", (d: Buffer) => {
      answer += d.toString("latin1");
    });
    tcp.on("close", () => resolve(answer));
    let i = 0;
    const next = () => {
      if (i < parts.length && !tcp.destroyed) tcp.write(parts[i++] as string | Buffer);
      if (i < parts.length) setTimeout(next, 50);
    };
    tcp.once("connect", next);
  });
}

const HEALTH = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

async function refusedUpgrades(g: RunningGateway, reason: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.metricsPort}/metrics`)).text();
  return Number(
    new RegExp(`^herald_refused_upgrades_total\\{reason="${reason}"\\} (\\S+)`, "m").exec(text)?.[1] ?? 0,
  );
}

/** Log lines about refused connections, from a logger that keeps them. */
function keptLogger(): { logger: Logger; refusals: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
  const refusals = () =>
    lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => "reason" in line);
  return { logger, refusals };
}

/** A trusted L4 balancer (every 127.0.0.0/8 peer) that passes the client's address in a PROXY header. */
const BALANCED = { history: false, proxyProtocol: true, trustedProxies: ["127.0.0.0/8"] };

describe("PROXY protocol (--proxy-protocol)", () => {
  test("takes the client address from a trusted balancer's version 1 header", async ({
    backend,
    startGateway,
    socket,
  }) => {
    const g = await startGateway({ ...BALANCED, maxConnectionsPerIp: 1 });
    const first = await socket({ at: g, ...behind(v1("198.51.100.1")) });
    first.send({ type: "auth", token: "via-v1" });
    await first.next("ready");
    expect(backend.requests.find((r) => r.token === "via-v1")?.remoteAddress).toBe("198.51.100.1");
    // the limits count the client, not the balancer
    await expect(socket({ at: g, ...behind(v1("198.51.100.1")) })).rejects.toThrow(/429/);
    await socket({ at: g, ...behind(v1("198.51.100.2")) });
    // IPv6 clients per /64
    await socket({ at: g, ...behind(v1("2001:db8:9:9::1")) });
    await expect(socket({ at: g, ...behind(v1("2001:db8:9:9:ffff::2")) })).rejects.toThrow(/429/);
    await socket({ at: g, ...behind(v1("2001:db8:9:a::1")) });
  });

  test("takes the client address from a version 2 header: IPv4, IPv6 per /64, IPv4-mapped IPv6 as IPv4", async ({
    backend,
    startGateway,
    socket,
  }) => {
    const g = await startGateway({ ...BALANCED, maxConnectionsPerIp: 1 });
    const first = await socket({ at: g, ...behind(v2("203.0.113.9")) });
    first.send({ type: "auth", token: "via-v2" });
    await first.next("ready");
    expect(backend.requests.find((r) => r.token === "via-v2")?.remoteAddress).toBe("203.0.113.9");
    await expect(socket({ at: g, ...behind(v1("203.0.113.9")) })).rejects.toThrow(/429/);

    const six = await socket({ at: g, ...behind(v2("2001:db8:5:6::1")) });
    six.send({ type: "auth", token: "via-v2-six" });
    await six.next("ready");
    expect(backend.requests.find((r) => r.token === "via-v2-six")?.remoteAddress).toBe("2001:db8:5:6::1");
    await expect(socket({ at: g, ...behind(v2("2001:db8:5:6:aaaa::2")) })).rejects.toThrow(/429/);
    await socket({ at: g, ...behind(v2("2001:db8:5:7::1")) });

    const mapped = await socket({ at: g, ...behind(v2("::ffff:c633:640a")) }); // 198.51.100.10
    mapped.send({ type: "auth", token: "via-v2-mapped" });
    await mapped.next("ready");
    expect(backend.requests.find((r) => r.token === "via-v2-mapped")?.remoteAddress).toBe("198.51.100.10");
    await expect(socket({ at: g, ...behind(v1("198.51.100.10")) })).rejects.toThrow(/429/);
  });

  test("reads a header split over several packets, and a LOCAL one (the balancer's health check) as the peer's", async ({
    startGateway,
  }) => {
    const g = await startGateway(BALANCED);
    const header = v2("203.0.113.20");
    const split = await rawExchange(g.port, [
      header.subarray(0, 5),
      header.subarray(5, 20),
      header.subarray(20),
      HEALTH,
    ]);
    expect(split).toMatch(/^HTTP\/1.1 200 /);
    const together = await rawExchange(g.port, [
      Buffer.concat([Buffer.from(v1("203.0.113.21")), Buffer.from(HEALTH)]),
    ]);
    expect(together).toMatch(/^HTTP\/1.1 200 /);
    expect(await rawExchange(g.port, [v2(undefined), HEALTH])).toMatch(/^HTTP\/1.1 200 /);
    expect(await rawExchange(g.port, ["PROXY UNKNOWN\r\n", HEALTH])).toMatch(/^HTTP\/1.1 200 /);
  });

  test("cuts a trusted peer that sends no header, a malformed one, or half of one within --upgrade-timeout", async ({
    startGateway,
    socket,
  }) => {
    const { logger, refusals } = keptLogger();
    const g = await startGateway({ ...BALANCED, upgradeTimeout: 500 }, { logger });
    // the balancer must send the header: a plain request from it is not guessed at
    await expect(socket({ at: g, localAddress: "127.0.0.2" })).rejects.toThrow();
    expect(await rawExchange(g.port, [`PROXY TCP4 ${"1".repeat(120)}`])).toBe(""); // longer than 107 bytes
    expect(await rawExchange(g.port, ["PROXY TCP4 198.51.100.1 10.0.0.1 99999 80\r\n", HEALTH])).toBe("");
    const started = performance.now();
    expect(await rawExchange(g.port, ["PROXY TCP4 198.51"])).toBe("");
    expect(performance.now() - started).toBeGreaterThanOrEqual(450);
    expect(await refusedUpgrades(g, "proxy_header")).toBe(4);
    expect(refusals()[0]).toMatchObject({ reason: "proxy_header", address: "127.0.0.2" });
    expect(String(refusals()[0]?.msg)).toMatch(/no PROXY protocol header/);
  });

  test("refuses a PROXY header from a peer outside --trusted-proxies, and from any peer with --proxy-protocol off", async ({
    startGateway,
    socket,
  }) => {
    const { logger, refusals } = keptLogger();
    const g = await startGateway({ ...BALANCED, trustedProxies: ["127.0.0.2"] }, { logger });
    // a client that writes its own header to pose as another address
    await expect(socket({ at: g, ...behind(v1("198.51.100.77"), "127.0.0.3") })).rejects.toThrow();
    await expect(socket({ at: g, ...behind(v2("198.51.100.77"), "127.0.0.3") })).rejects.toThrow();
    expect(await refusedUpgrades(g, "proxy_header")).toBe(2);
    expect(refusals()[0]).toMatchObject({ reason: "proxy_header", address: "127.0.0.3" });
    expect(String(refusals()[0]?.msg)).toMatch(/not in --trusted-proxies/);
    // that peer speaks plain HTTP and is let in as itself
    await socket({ at: g, localAddress: "127.0.0.3" });

    const { logger: offLogger, refusals: offRefusals } = keptLogger();
    const off = await startGateway(
      { history: false, trustedProxies: ["127.0.0.0/8"] },
      { logger: offLogger },
    );
    await expect(socket({ at: off, ...behind(v1("198.51.100.78")) })).rejects.toThrow();
    expect(await refusedUpgrades(off, "proxy_header")).toBe(1);
    expect(String(offRefusals()[0]?.msg)).toMatch(/--proxy-protocol is off/);
  });

  test("holds idle sockets per client address behind the balancer, not per balancer", async ({
    startGateway,
    socket,
    onTestFinished,
  }) => {
    // --max-connections 64: an address may hold 16 sockets that have not sent their request
    const g = await startGateway({ ...BALANCED, maxConnections: 64, upgradeTimeout: 10_000 });
    const idle: Socket[] = [];
    onTestFinished(() => {
      for (const tcp of idle) tcp.destroy();
    });
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      const tcp = tcpConnect({ port: g.port, host: "127.0.0.1", localAddress: "127.0.0.2" });
      tcp.on("error", () => undefined);
      tcp.on("data", (d: Buffer) => void answers.push(d.toString("latin1")));
      tcp.write(v1("203.0.113.50"));
      idle.push(tcp);
    }
    await waitUntil(() => answers.length === 4, "4 idle sockets of 203.0.113.50 refused");
    expect(answers.every((a) => a.startsWith("HTTP/1.1 429"))).toBe(true);
    // the same balancer's other clients are not held back
    await socket({ at: g, ...behind(v1("203.0.113.51")) });
    expect(await refusedUpgrades(g, "pending_per_ip")).toBe(4);
  });
});

describe("parseProxyHeader", () => {
  it("waits for a whole header, and says where it ends", () => {
    const line = Buffer.from(v1("198.51.100.1"));
    expect(parseProxyHeader(line.subarray(0, 10))).toEqual({ state: "incomplete" });
    expect(parseProxyHeader(Buffer.concat([line, Buffer.from("GET")]))).toEqual({
      state: "complete",
      length: line.length,
      source: "198.51.100.1",
    });
    const binary = v2("198.51.100.2");
    expect(parseProxyHeader(binary.subarray(0, 15))).toEqual({ state: "incomplete" });
    expect(parseProxyHeader(binary.subarray(0, binary.length - 1))).toEqual({ state: "incomplete" });
    expect(parseProxyHeader(binary)).toEqual({
      state: "complete",
      length: binary.length,
      source: "198.51.100.2",
    });
  });

  it("refuses what is not a header, a version 1 line past 107 bytes, and unknown versions", () => {
    expect(parseProxyHeader(Buffer.from("GET / HTTP/1.1\r\n")).state).toBe("invalid");
    expect(parseProxyHeader(Buffer.from("PROXZ")).state).toBe("invalid");
    expect(parseProxyHeader(Buffer.from(`PROXY UNKNOWN ${"x".repeat(100)}`)).state).toBe("invalid");
    expect(parseProxyHeader(Buffer.from("PROXY TCP4 300.1.1.1 10.0.0.1 1 2\r\n")).state).toBe("invalid");
    expect(parseProxyHeader(Buffer.from("PROXY TCP4 10.0.0.1 10.0.0.2 1 2 extra\r\n")).state).toBe("invalid");
    const version3 = v2("198.51.100.2");
    version3[12] = 0x31;
    expect(parseProxyHeader(version3).state).toBe("invalid");
  });
});
