import { createServer, type IncomingMessage, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";

/** What the proxy does with a WebSocket upgrade. */
export type UpgradePolicy = "refuse" | "pass" | "cut";

export interface BlockingProxy {
  /** `ws://127.0.0.1:<port><path>`: the gateway's URL through the proxy. */
  readonly url: string;
  /** Refuse upgrades (403, as a corporate proxy), pass them, or pass them and cut them at once. */
  upgrades: UpgradePolicy;
  /** Upgrades asked for so far. */
  readonly upgradeAttempts: number;
  close(): Promise<void>;
}

/**
 * A reverse proxy in front of a gateway that passes plain HTTP through as it streams (bodies both
 * ways as they come) and does with WebSocket upgrades what `upgrades` says: a network that blocks
 * WebSockets, one that lets them through, or one that cuts them once open.
 */
export async function startBlockingProxy(target: { port: number }, path: string): Promise<BlockingProxy> {
  const sockets = new Set<Socket | Duplex>();
  let upgradeAttempts = 0;
  const server: Server = createServer((req, res) => {
    const upstream = request(
      { host: "127.0.0.1", port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer: IncomingMessage) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  const proxy: BlockingProxy = {
    url: "",
    upgrades: "refuse",
    get upgradeAttempts() {
      return upgradeAttempts;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgradeAttempts++;
    socket.on("error", () => undefined);
    if (proxy.upgrades === "refuse") {
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const upstream = connect(target.port, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => socket.destroy());
    socket.on("close", () => upstream.destroy());
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
    upstream.write(head);
    if (proxy.upgrades === "cut") {
      // The 101 goes to the client, and the connection is cut before any frame.
      upstream.once("data", (answer: Buffer) => {
        socket.write(answer.subarray(0, answer.indexOf("\r\n\r\n") + 4));
        socket.destroy();
        upstream.destroy();
      });
      return;
    }
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(proxy, { url: `ws://127.0.0.1:${port}${path}` });
}
