import { describe, expect } from "vitest";
import { freePort } from "../../src/testing/index.js";
import { stackTest as test } from "../fixtures.js";
import { runCli } from "./run-cli.js";

// `herald publish` against the file's nats-server; `raw` (and `collect`) sees what it sent.

describe("herald publish", () => {
  test("publishes the message text as given to the user's subject", async ({ nats, collect }) => {
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

  test("takes servers and prefix from the environment and publishes to shared channels", async ({
    nats,
    collect,
  }) => {
    const messages = await collect("acme.channel.news");
    const result = await runCli(["publish", "--channel", "news", "extra!", "--no-ack"], {
      HERALD_NATS_URL: nats.url,
      HERALD_PREFIX: "acme",
    });
    expect(result).toMatchObject({ code: 0, stdout: "published to acme.channel.news (not acknowledged)\n" });
    await expect.poll(() => messages.map((m) => m.string()), { timeout: 5000 }).toEqual(["extra!"]);
  });

  test("waits for the stream's acknowledgement by default and prints the stored sequence", async ({
    nats,
    historyStream,
  }) => {
    const jsm = await historyStream();

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

  test("fails with exit 1 and says why when no stream stores the subject", async ({ nats }) => {
    const result = await runCli(["publish", "7", "lost", "--nats", nats.url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("herald: no JetStream stream captures herald.user.7");
    expect(result.stderr).toContain("publish with --no-ack");
    expect(result.stdout).toBe("");
  });

  test("refuses --msg-id without an acknowledgement", async ({ nats }) => {
    const result = await runCli(["publish", "7", "x", "--no-ack", "--msg-id", "m-2", "--nats", nats.url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--msg-id needs an acknowledged publish");
  });

  test.for(["1.*", ">", "2 q", "x\r\nSUB >", "", "a.b"])(
    "refuses the user id %j with exit 2 and publishes nothing",
    async (userId, { nats, raw, collect }) => {
      // Everything published on the server reaches this one.
      const seen = await collect(">");
      const result = await runCli(["publish", userId, "leak", "--nats", nats.url]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`herald: invalid user id ${JSON.stringify(userId)}: must be 1 to 128`);
      await raw.flush();
      expect(seen).toEqual([]);
    },
  );

  test("names the channel when --channel is given a bad name", async ({ nats }) => {
    const result = await runCli(["publish", "--channel", "news.*", "x", "--nats", nats.url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid channel name "news.*"');
  });

  test("exits 2 on missing arguments and bad options", async () => {
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

  test("exits 1 within seconds when NATS is unreachable", async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const result = await runCli(["publish", "1", "hello", "--nats", url], {}, 15_000);
    expect(result.killed).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`herald: cannot reach NATS at ${url}: `);
  });
});
