import * as v from "valibot";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { accept, HeraldBackend, refuse } from "../../src/backend/index.js";
import { type MessageFrame, ServerFrame } from "../../src/protocol/index.js";
import { startTestGateway } from "../../src/testing/gateway.js";
import { type NatsServer, startNats } from "../../src/testing/index.js";
import { runCli } from "./run-cli.js";

/**
 * The whole path a team uses: a backend built on the SDK answers the gateway's auth requests, and
 * `herald publish` reaches the browser's socket through the gateway.
 */
let nats: NatsServer;
let backend: HeraldBackend;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  backend = await HeraldBackend.connect({ servers: nats.url });
  backend.serveAuth(async (token) =>
    token.startsWith("token-")
      ? accept({ user: token.slice(6), channels: ["news"] })
      : refuse("bad_token", "unknown token"),
  );
  await backend.flush();
});

afterAll(async () => {
  await backend?.close();
  await nats?.stop();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Client {
  frames: v.InferOutput<typeof ServerFrame>[];
  ws: WebSocket;
}

async function signIn(url: string, token: string): Promise<Client> {
  const ws = new WebSocket(url);
  cleanups.push(async () => ws.terminate());
  const frames: Client["frames"] = [];
  ws.on("message", (data) => frames.push(v.parse(ServerFrame, JSON.parse(String(data)))));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  ws.send(JSON.stringify({ type: "auth", token }));
  await expect.poll(() => frames.map((f) => f.type), { timeout: 5000 }).toContain("ready");
  return { frames, ws };
}

const messages = (client: Client) => client.frames.filter((f): f is MessageFrame => f.type === "message");

describe("herald publish through a gateway", () => {
  it("delivers text as a string and JSON as JSON to the user's socket, and channels to everyone granted", async () => {
    const gateway = await startTestGateway(nats);
    cleanups.push(() => gateway.close());
    const alice = await signIn(gateway.url, "token-alice");
    const bob = await signIn(gateway.url, "token-bob");

    // A gateway with history off: nothing stores or acknowledges, so the publish is fire and forget.
    const publish = (...args: string[]) => runCli(["publish", ...args, "--no-ack", "--nats", nats.url]);
    expect((await publish("alice", "hello!")).code).toBe(0);
    expect((await publish("alice", '{"a":1}')).code).toBe(0);
    expect((await publish("--channel", "news", "for all")).code).toBe(0);

    await expect
      .poll(() => messages(alice).map((m) => [m.channel, m.data]), { timeout: 5000 })
      .toEqual([
        ["user.alice", "hello!"],
        ["user.alice", { a: 1 }],
        ["channel.news", "for all"],
      ]);
    expect(messages(bob).map((m) => [m.channel, m.data])).toEqual([["channel.news", "for all"]]);
  });

  it("prints the same sequence the client receives when history is on", async () => {
    const gateway = await startTestGateway(nats, { history: true, historyStorage: "memory" });
    cleanups.push(() => gateway.close());
    const carol = await signIn(gateway.url, "token-carol");

    const result = await runCli(["publish", "carol", "kept", "--nats", nats.url]);
    expect(result.code).toBe(0);
    const seq = Number(/stored as seq (\d+) in stream HERALD/.exec(result.stdout)?.[1]);
    expect(seq).toBeGreaterThan(0);

    await expect
      .poll(() => messages(carol).map((m) => [m.data, m.seq]), { timeout: 5000 })
      .toEqual([["kept", seq]]);
    // The SDK's publish agrees with the CLI's.
    const stored = await backend.publishStored("carol", { n: 2 });
    expect(stored.seq).toBeGreaterThan(seq);
    await expect.poll(() => messages(carol).map((m) => m.seq), { timeout: 5000 }).toEqual([seq, stored.seq]);
  });
});
