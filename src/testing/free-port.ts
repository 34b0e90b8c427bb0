import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Where ports are picked when the kernel's ephemeral range leaves room below it. */
const LOWEST = 20_000;

/**
 * A TCP port that was free a moment ago on the given host. Picked below the kernel's ephemeral
 * range: a port from that range (what listening on port 0 gives) can be taken as the local port of
 * any outgoing connection between this check and the server binding it, and tests that open and
 * reconnect thousands of sockets made other tests' servers fail with "address already in use".
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const highest = ephemeralLow() - 1;
  if (highest - LOWEST >= 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
      if ((await listenOnce(port, host)) !== undefined) return port;
    }
  }
  const port = await listenOnce(0, host);
  if (port === undefined) throw new Error("no free port");
  return port;
}

/** The first port of the kernel's ephemeral range (Linux), or the usual default. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Listens on `port` and closes again: the port it got, or undefined when it is taken. */
function listenOnce(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen(port, host, () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === "object" ? address.port : undefined));
    });
  });
}
