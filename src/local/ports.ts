import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Where ports are picked when the kernel's ephemeral range leaves room below it. */
const LOWEST = 20_000;
/** How many slices the room below the ephemeral range is cut into: one per test worker. */
const SLICES = 8;

/** Where this process's next pick starts; ports are handed out in order, never twice in a row. */
let cursor: number | undefined;

/**
 * A TCP port that was free a moment ago on the given host.
 *
 * Picked below the kernel's ephemeral range: a port from that range (what listening on port 0
 * gives) can be taken as the local port of any outgoing connection between this check and the
 * server binding it. Each test worker (`VITEST_POOL_ID`) picks from its own slice of that room, in
 * order, so two workers never race for one port and one process never hands out a port twice
 * before it is bound (three picks for one nats-server used to be able to collide).
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const [low, high] = slice();
  if (high - low >= 100) {
    const size = high - low + 1;
    cursor ??= low + Math.floor(Math.random() * size);
    for (let attempt = 0; attempt < size; attempt++) {
      const port = low + ((cursor - low + attempt) % size);
      if ((await listenOnce(port, host)) !== undefined) {
        cursor = low + ((port - low + 1) % size);
        return port;
      }
    }
  }
  const port = await listenOnce(0, host);
  if (port === undefined) throw new Error("no free port");
  return port;
}

/** The ports this process picks from: its worker's slice of the room below the ephemeral range. */
function slice(): [number, number] {
  const highest = ephemeralLow() - 1;
  const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0);
  if (!Number.isInteger(worker) || worker <= 0) {
    // Not a test worker (bench, demo): the top slice, which workers 1..SLICES-1 leave alone.
    const width = Math.floor((highest - LOWEST + 1) / SLICES);
    return [highest - width + 1, highest];
  }
  const width = Math.floor((highest - LOWEST + 1) / SLICES);
  const index = (worker - 1) % (SLICES - 1);
  return [LOWEST + index * width, LOWEST + (index + 1) * width - 1];
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

/**
 * Whether `port` can be listened on at `host` right now (0 asks for any free port and returns it).
 * Resolves with the port, or undefined when it is taken; other errors (no such address) reject.
 */
export function probePort(host: string, port: number): Promise<number | undefined> {
  return listen(port, host, true);
}

/** Listens on `port` and closes again: the port it got, or undefined when it is taken. */
function listenOnce(port: number, host: string): Promise<number | undefined> {
  return listen(port, host, false).catch(() => undefined);
}

function listen(port: number, host: string, exclusive: boolean): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE" || error.code === "EACCES") resolve(undefined);
      else reject(error);
    });
    server.listen({ port, host, exclusive }, () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === "object" ? address.port : undefined));
    });
  });
}
