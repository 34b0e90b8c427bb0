import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpBalancer {
  readonly port: number;
  /** ws://127.0.0.1:<port><path> */
  url(path?: string): string;
  /** Cuts every connection open now (both sides), and keeps listening. */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * A plain TCP load balancer for tests: each new connection goes to the next upstream in turn, and
 * to the one after it when that one refuses, as a real balancer's health checks would arrange.
 */
export async function startTcpBalancer(upstreamPorts: () => readonly number[]): Promise<TcpBalancer> {
  let turn = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((downstream) => {
    sockets.add(downstream);
    downstream.on("close", () => sockets.delete(downstream));
    downstream.on("error", () => undefined);
    downstream.pause();
    const ports = upstreamPorts();
    const start = turn++;
    const attempt = (i: number) => {
      if (i >= ports.length) return downstream.destroy();
      const upstream = connect(ports[(start + i) % ports.length]!, "127.0.0.1");
      let connected = false;
      upstream.once("error", () => {
        if (!connected) attempt(i + 1);
      });
      upstream.once("connect", () => {
        connected = true;
        sockets.add(upstream);
        upstream.on("close", () => {
          sockets.delete(upstream);
          downstream.destroy();
        });
        upstream.on("error", () => downstream.destroy());
        downstream.on("close", () => upstream.destroy());
        downstream.pipe(upstream);
        upstream.pipe(downstream);
        downstream.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    url: (path = "/ws") => `ws://127.0.0.1:${port}${path}`,
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
