// Usage: node --expose-gc --import tsx bench/mem-probe.ts [N]  (SNAPSHOT=file.heapsnapshot to write a heap snapshot)
// Memory per authenticated connection in an in-process gateway, clients in a child process.
// History on (the default: JetStream, file storage) unless HISTORY=false; PRESENCE=true adds
// --events true --presence true, every user with presence on the shared channel;
// TRANSPORT=http-stream or sse connects the clients over the HTTP fallbacks instead of WebSockets.
import { fork } from "node:child_process";
import { accept, HeraldBackend } from "../src/backend/index.js";
import { HttpStreamClient, type HttpTransport, startNats, startTestGateway } from "../src/testing/index.js";

const N = Number(process.argv[2] ?? 5000);
if (process.argv[3] === "child") {
  const { WebSocket } = await import("ws");
  const url = process.argv[4]!;
  const transport = process.env.TRANSPORT as HttpTransport | undefined;
  const sockets: unknown[] = [];
  for (let i = 0; i < N; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, N - i) }, (_, j) =>
        transport
          ? HttpStreamClient.ready(url, `u${i + j}`, {}, { transport }).then((client) => {
              sockets.push(client);
            })
          : new Promise<void>((resolve) => {
              const ws = new WebSocket(url, { localAddress: `127.0.0.${1 + ((i + j) % 4)}` });
              ws.on("open", () => ws.send(JSON.stringify({ type: "auth", token: `u${i + j}` })));
              ws.once("message", () => resolve());
              sockets.push(ws);
            }),
      ),
    );
  }
  process.send?.("ready");
  await new Promise((r) => setTimeout(r, 600_000));
} else {
  const history = process.env.HISTORY !== "false";
  const presence = process.env.PRESENCE === "true";
  const nats = await startNats({ jetstream: history });
  const backend = await HeraldBackend.connect({ servers: nats.url });
  backend.serveAuth((token) =>
    accept({
      user: token,
      channels: ["all"],
      ...(presence ? { presence: ["all"], info: { name: token } } : {}),
    }),
  );
  // Every HTTP client comes from one address: no connection rate to hold it back.
  const gateway = await startTestGateway(nats, { history, events: presence, presence, connectRatePerIp: 0 });
  const gc = globalThis.gc as () => void;
  const measure = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed, ext: m.external + m.arrayBuffers };
  };
  await new Promise((r) => setTimeout(r, 500));
  const before = measure();
  const child = fork(new URL(import.meta.url).pathname, [String(N), "child", gateway.url], {
    execArgv: ["--import", "tsx"],
  });
  await new Promise<void>((resolve) => child.on("message", () => resolve()));
  // What connecting left behind (events still being stored, garbage) settles first.
  await new Promise((r) => setTimeout(r, Number(process.env.SETTLE_MS ?? 1000)));
  const after = measure();
  const per = (k: "rss" | "heap" | "ext") => ((after[k] - before[k]) / N / 1024).toFixed(2);
  if (process.env.SNAPSHOT) (await import("node:v8")).writeHeapSnapshot(process.env.SNAPSHOT);
  console.log(
    `history ${history}, events and presence ${presence}, ${process.env.TRANSPORT ?? "websocket"}: per connection KiB: rss ${per("rss")} heap ${per("heap")} external ${per("ext")} (sessions ${gateway.sessionCount})`,
  );
  child.kill();
  await gateway.close();
  await backend.close();
  await nats.stop();
  process.exit(0);
}
