// Usage: node --import tsx bench/compression.ts [N]   (about a minute)
// What --compression true costs the gateway:
// - memory: the resident memory an idle authenticated connection adds to a gateway alone in a child
//   process (fixed young generation, two full collections before each reading), over N connections
//   (default 500) after a warm-up of 50, with compression off and on. The clients deflate every frame
//   they send, as browsers do, and each got one 2 KiB message, so every zlib stream a socket may keep
//   has been made;
// - CPU: deflating one message frame, as the gateway does it (once per frame, whatever the number of
//   sockets: OutboundFrame.deflatedWire) and as `ws` does it with its defaults (a deflate stream per
//   socket with context takeover, so once per frame per socket, on the libuv thread pool).
import { fork } from "node:child_process";
import { constants, createDeflateRaw } from "node:zlib";
import { WebSocket } from "ws";
import { accept, HeraldBackend } from "../src/backend/index.js";
import { OutboundFrame } from "../src/gateway/delivery/outbound-frame.js";
import { pollFor, startNats, startTestGateway } from "../src/testing/index.js";

const N = Number(process.argv[2] ?? 500);
const WARM_UP = 50;

if (process.argv[2] === "gateway") {
  // The child: a gateway, its URL sent over IPC, its RSS after two collections on "measure".
  const gc = (globalThis as { gc?: () => void }).gc as () => void;
  const gateway = await startTestGateway(process.argv[3] as string, {
    compression: process.argv[4] === "true",
    history: false,
  });
  process.on("message", () => {
    gc();
    gc();
    process.send?.({ rss: process.memoryUsage().rss });
  });
  process.on("disconnect", () => process.exit(0));
  process.send?.({ url: gateway.url });
} else {
  const nats = await startNats({ jetstream: false });
  const backend = await HeraldBackend.connect({ servers: nats.url, history: false });
  backend.serveAuth((token) => accept({ user: token, channels: ["all"] }));
  const message = {
    items: Array.from({ length: 70 }, (_, i) => ({ id: 1000 + i, state: i % 3 ? "open" : "closed" })),
  };
  try {
    for (const compression of [false, true]) {
      const perConnection = await idleMemory(nats.url, backend, compression, message);
      console.log(`compression ${compression}: ${perConnection.toFixed(1)} KiB per idle connection`);
    }
  } finally {
    await backend.close();
    await nats.stop();
  }
  for (const bytes of [200, 1024, 4096, 16_384]) {
    const once = cpuPerFrame(bytes, 2000, (payload) => OutboundFrame.concat([payload]).deflatedWire);
    const perSocket = await streamCpuPerFrame(bytes, 2000);
    console.log(
      `${String(bytes).padStart(6)} B frame: deflated once ${once.toFixed(1)} µs of CPU; with a stream per socket ${perSocket.toFixed(1)} µs per socket`,
    );
  }
  process.exit(0);
}

async function idleMemory(
  natsUrl: string,
  backend: HeraldBackend,
  compression: boolean,
  message: unknown,
): Promise<number> {
  const child = fork(new URL(import.meta.url).pathname, ["gateway", natsUrl, String(compression)], {
    execArgv: ["--import", "tsx", "--expose-gc", "--max-semi-space-size=1"],
  });
  const replies: Record<string, number | string>[] = [];
  child.on("message", (reply) => void replies.push(reply as Record<string, number | string>));
  const reply = () => pollFor(() => replies.shift(), "the gateway process", { timeoutMs: 60_000 });
  const sockets: WebSocket[] = [];
  let messages = 0;
  try {
    const url = (await reply()).url as string;
    const open = (n: number) =>
      Promise.all(
        Array.from(
          { length: n },
          () =>
            new Promise<void>((resolve) => {
              const ws = new WebSocket(url, {
                perMessageDeflate: { threshold: 0 },
                localAddress: `127.0.0.${1 + (sockets.length % 4)}`,
              });
              const token = `u${sockets.length}`;
              sockets.push(ws);
              ws.once("open", () => ws.send(JSON.stringify({ type: "auth", token })));
              ws.on("message", (data) => {
                const type = (JSON.parse(String(data)) as { type: string }).type;
                if (type === "ready") resolve();
                else if (type === "message") messages++;
                else if (type === "ping") ws.send(JSON.stringify({ type: "pong" }));
              });
            }),
        ),
      );
    const publish = async () => {
      const expected = messages + sockets.length;
      await backend.publishToChannel("all", message);
      await pollFor(() => (messages >= expected ? true : undefined), "every message", { timeoutMs: 30_000 });
    };
    const rss = async () => {
      child.send("measure");
      return (await reply()).rss as number;
    };
    await open(WARM_UP);
    await publish();
    const before = await rss();
    await open(N);
    await publish();
    return ((await rss()) - before) / N / 1024;
  } finally {
    for (const ws of sockets) ws.terminate();
    child.kill();
  }
}

/** A JSON message frame's text of `bytes` bytes, as compressible as a list of records is. */
function frameText(bytes: number, variant: number): Buffer {
  const items = Array.from({ length: Math.ceil(bytes / 30) }, (_, i) => ({
    id: variant * 10_000 + i,
    state: (i + variant) % 3 ? "open" : "closed",
  }));
  const text = JSON.stringify({ type: "message", channel: "channel.orders", seq: variant, data: items });
  return Buffer.from(text.slice(0, bytes));
}

/** CPU time (user + system, every thread) per call of `deflate` on fresh frames, in µs. */
function cpuPerFrame(bytes: number, frames: number, deflate: (payload: Buffer) => unknown): number {
  const texts = Array.from({ length: 64 }, (_, i) => frameText(bytes, i));
  for (let i = 0; i < 200; i++) deflate(texts[i % texts.length] as Buffer);
  const start = process.cpuUsage();
  for (let i = 0; i < frames; i++) deflate(texts[i % texts.length] as Buffer);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / frames;
}

/** The same with one deflate stream kept across frames and flushed per frame, as `ws` does per socket. */
async function streamCpuPerFrame(bytes: number, frames: number): Promise<number> {
  const texts = Array.from({ length: 64 }, (_, i) => frameText(bytes, i));
  const stream = createDeflateRaw();
  stream.on("data", () => undefined);
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      stream.write(texts[i % texts.length]);
      stream.flush(constants.Z_SYNC_FLUSH, () => resolve());
    });
  for (let i = 0; i < 200; i++) await one(i);
  const start = process.cpuUsage();
  for (let i = 0; i < frames; i++) await one(i);
  const used = process.cpuUsage(start);
  stream.close();
  return (used.user + used.system) / frames;
}
