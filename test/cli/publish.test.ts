import { jetstreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort, type NatsServer, startNats } from "../../src/testing/index.js";
import { runCli } from "./run-cli.js";

let nats: NatsServer;
let observer: NatsConnection;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  observer = await connect({ servers: nats.url });
});

afterAll(async () => {
  await observer?.close();
  await nats?.stop();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function collect(subject: string): Promise<Msg[]> {
  const messages: Msg[] = [];
  const sub = observer.subscribe(subject, { callback: (_err, msg) => void messages.push(msg) });
  cleanups.push(async () => sub.unsubscribe());
  await observer.flush();
  return messages;
}

/** Everything published on the server reaches this one; used to prove nothing was sent. */
async function everything(): Promise<Msg[]> {
  return collect(">");
}

describe("herald publish", () => {
  it("publishes the message text as given to the user's subject", async () => {
    const messages = await collect("herald.user.1");
    const plain = await runCli(["publish", "1", "hello!", "--no-ack", "--nats", nats.url]);
    expect(plain).toMatchObject({
      code: 0,
      stdout: "published to herald.user.1 (not acknowledged)\n",
      stderr: "",
    });
    const json = await runCli(["publish", "1", '{"a":1}', "--no-ack", "--nats", nats.url]);
    expect(json.code).toBe(0);

    await expect
      .poll(() => messages.map((m) => m.string()), { timeout: 5000 })
      .toEqual(["hello!", '{"a":1}']);
  });

  it("takes servers and prefix from the environment and publishes to shared channels", async () => {
    const messages = await collect("acme.channel.news");
    const result = await runCli(["publish", "--channel", "news", "extra!", "--no-ack"], {
      HERALD_NATS_URL: nats.url,
      HERALD_PREFIX: "acme",
    });
    expect(result).toMatchObject({ code: 0, stdout: "published to acme.channel.news (not acknowledged)\n" });
    await expect.poll(() => messages.map((m) => m.string()), { timeout: 5000 }).toEqual(["extra!"]);
  });

  it("waits for the stream's acknowledgement by default and prints the stored sequence", async () => {
    const jsm = await jetstreamManager(observer);
    await jsm.streams.add({ name: "HERALD", subjects: ["herald.user.>", "herald.channel.>"] });
    cleanups.push(() => jsm.streams.delete("HERALD"));

    const first = await runCli(["publish", "7", "one", "--nats", nats.url]);
    expect(first).toMatchObject({
      code: 0,
      stdout: "published to herald.user.7\nstored as seq 1 in stream HERALD\n",
    });
    // --stored, from before acknowledgements were the default, still works.
    const second = await runCli(["publish", "7", "two", "--stored", "--nats", nats.url]);
    expect(second.stdout).toContain("stored as seq 2 in stream HERALD");
    const retried = await runCli(["publish", "7", "two", "--msg-id", "m-1", "--nats", nats.url]);
    const again = await runCli(["publish", "7", "two", "--msg-id", "m-1", "--nats", nats.url]);
    expect(retried.stdout).toContain("stored as seq 3 in stream HERALD");
    expect(again.stdout).toContain("already stored as seq 3 in stream HERALD");
    const unacknowledged = await runCli(["publish", "7", "three", "--no-ack", "--nats", nats.url]);
    expect(unacknowledged.stdout).toBe("published to herald.user.7 (not acknowledged)\n");
    await expect.poll(async () => (await jsm.streams.info("HERALD")).state.messages).toBe(4);
  });

  it("fails with exit 1 and says why when no stream stores the subject", async () => {
    const result = await runCli(["publish", "7", "lost", "--nats", nats.url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("herald: no JetStream stream captures herald.user.7");
    expect(result.stderr).toContain("publish with --no-ack");
    expect(result.stdout).toBe("");
  });

  it("refuses --msg-id without an acknowledgement", async () => {
    const result = await runCli(["publish", "7", "x", "--no-ack", "--msg-id", "m-2", "--nats", nats.url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--msg-id needs an acknowledged publish");
  });

  it.each(["1.*", ">", "2 q", "x\r\nSUB >", "", "a.b"])(
    "refuses the user id %j with exit 2 and publishes nothing",
    async (userId) => {
      const seen = await everything();
      const result = await runCli(["publish", userId, "leak", "--nats", nats.url]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`herald: invalid user id ${JSON.stringify(userId)}: must be 1 to 128`);
      await observer.flush();
      expect(seen).toEqual([]);
    },
  );

  it("names the channel when --channel is given a bad name", async () => {
    const result = await runCli(["publish", "--channel", "news.*", "x", "--nats", nats.url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid channel name "news.*"');
  });

  it("exits 2 on missing arguments and bad options", async () => {
    const missing = await runCli(["publish", "1"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'message'");

    const badUrl = await runCli(["publish", "1", "x", "--nats", "http://example.com/x"]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('invalid --nats "http://example.com/x"');

    const badPrefix = await runCli(["publish", "1", "x", "--prefix", "a.>"]);
    expect(badPrefix.code).toBe(2);
    expect(badPrefix.stderr).toContain('invalid --prefix "a.>"');
  });

  it("exits 1 within seconds when NATS is unreachable", async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const result = await runCli(["publish", "1", "hello", "--nats", url], {}, 15_000);
    expect(result.killed).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`herald: cannot reach NATS at ${url}: `);
  });
});
