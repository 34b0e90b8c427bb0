import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { WebSocket } from "ws";
import { accept } from "../../src/backend/index.js";
import { pollFor } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

const CONNECTIONS = 150;
const WARM_UP = 20;
/** The bound per idle connection with compression on: 262 KiB each before (a deflate stream per socket). */
const BOUND_KIB = 64;

/** A gateway in a process of its own (measured-gateway.ts), so that only its memory is measured. */
class MeasuredGateway {
  private readonly replies: Record<string, unknown>[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (reply) => void this.replies.push(reply as Record<string, unknown>));
  }

  static async start(natsUrl: string, options: Record<string, unknown>): Promise<MeasuredGateway> {
    const script = fileURLToPath(new URL("./measured-gateway.ts", import.meta.url));
    const execArgv = ["--import", "tsx", "--expose-gc", "--max-semi-space-size=1"];
    return new MeasuredGateway(fork(script, [natsUrl, JSON.stringify(options)], { execArgv }));
  }

  async url(): Promise<string> {
    return (await this.reply(30_000)).url as string;
  }

  async rss(): Promise<number> {
    this.child.send("measure");
    return (await this.reply()).rss as number;
  }

  stop(): void {
    this.child.kill();
  }

  private reply(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return pollFor(() => this.replies.shift(), "the gateway process", { timeoutMs });
  }
}

/** Clients that deflate every frame they send, however small, as browsers do. */
class CompressingClients {
  readonly sockets: WebSocket[] = [];
  messages = 0;

  constructor(private readonly url: string) {}

  async open(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.openOne(`idle${this.sockets.length}`)));
  }

  close(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  private openOne(token: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: { threshold: 0 } });
      this.sockets.push(ws);
      ws.once("open", () => ws.send(JSON.stringify({ type: "auth", token })));
      ws.once("error", reject);
      ws.on("message", (data) => {
        const frame = JSON.parse(String(data)) as { type: string };
        if (frame.type === "ready") resolve();
        else if (frame.type === "message") this.messages++;
        else if (frame.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
        else reject(new Error(`unexpected ${String(data).slice(0, 200)}`));
      });
    });
  }
}

/**
 * What an idle connection costs with `--compression true`: clients that deflate every frame, as
 * browsers do, each sent a message large enough to be deflated, then left idle. Measured as the
 * resident memory of a gateway in a process of its own, over 150 connections, after a warm-up so
 * that what the first connections and messages cost once is not counted.
 */
describe("compression memory", () => {
  test.override({
    backendOptions: { history: false, authorize: (token) => accept({ user: token, channels: ["all"] }) },
  });

  /** A message of about 2 KiB, compressible as JSON is. */
  const message = {
    items: Array.from({ length: 70 }, (_, i) => ({ id: 1000 + i, state: i % 3 ? "open" : "closed" })),
  };

  test(`an idle compressed connection costs under ${BOUND_KIB} KiB`, async ({ nats, backend }) => {
    const gateway = await MeasuredGateway.start(nats.url, { compression: true, history: false });
    const clients = new CompressingClients(await gateway.url());
    try {
      const publish = async () => {
        const expected = clients.messages + clients.sockets.length;
        await backend.publishToChannel("all", message);
        await pollFor(() => (clients.messages >= expected ? true : undefined), "every client's message");
      };
      await clients.open(WARM_UP);
      await publish();
      const before = await gateway.rss();
      await clients.open(CONNECTIONS);
      expect(clients.sockets.every((ws) => ws.extensions.includes("permessage-deflate"))).toBe(true);
      await publish();
      const perConnectionKiB = ((await gateway.rss()) - before) / CONNECTIONS / 1024;
      expect(perConnectionKiB, `${perConnectionKiB.toFixed(1)} KiB per connection`).toBeLessThan(BOUND_KIB);
    } finally {
      clients.close();
      gateway.stop();
    }
  }, 60_000);
});
