import { describe, expect } from "vitest";
import { accept, refuse } from "../../src/backend/index.js";
import type { TestClient } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import { runCli } from "./run-cli.js";

const messages = (client: TestClient) => client.messages().map((m) => [m.channel, m.data]);

/**
 * The whole path a team uses: a backend built on the SDK answers the gateway's auth requests, and
 * `herald publish` reaches the browser's socket through the gateway.
 */
describe("herald publish through a gateway", () => {
  test.override({
    backendOptions: {
      authorize: async (token) =>
        token.startsWith("token-")
          ? accept({ user: token.slice(6), channels: ["news"] })
          : refuse("bad_token", "unknown token"),
    },
  });

  test("delivers text as a string and JSON as JSON to the user's socket, and channels to everyone granted", async ({
    nats,
    startGateway,
    client,
  }) => {
    const gateway = await startGateway({ history: false });
    const alice = await client("token-alice", { at: gateway });
    const bob = await client("token-bob", { at: gateway });

    // A gateway with history off: nothing stores or acknowledges, so the publish is fire and forget.
    const publish = (...args: string[]) => runCli(["publish", ...args, "--no-ack", "--nats", nats.url]);
    expect((await publish("alice", "hello!")).code).toBe(0);
    expect((await publish("alice", '{"a":1}')).code).toBe(0);
    expect((await publish("--channel", "news", "for all")).code).toBe(0);

    await alice.waitForMessages(3);
    expect(messages(alice)).toEqual([
      ["user.alice", "hello!"],
      ["user.alice", { a: 1 }],
      ["channel.news", "for all"],
    ]);
    await bob.waitForMessages(1);
    expect(messages(bob)).toEqual([["channel.news", "for all"]]);
  });

  test("prints the same sequence the client receives when history is on", async ({
    nats,
    backend,
    startGateway,
    client,
  }) => {
    const gateway = await startGateway({ historyStorage: "memory" });
    const carol = await client("token-carol", { at: gateway });

    const result = await runCli(["publish", "carol", "kept", "--nats", nats.url]);
    expect(result.code).toBe(0);
    const seq = Number(/stored as seq (\d+) in stream HERALD/.exec(result.stdout)?.[1]);
    expect(seq).toBeGreaterThan(0);

    await carol.waitForMessages(1);
    expect(carol.messages().map((m) => [m.data, m.seq])).toEqual([["kept", seq]]);
    // The SDK's publish agrees with the CLI's.
    const stored = await backend.publishStored("carol", { n: 2 });
    expect(stored.seq).toBeGreaterThan(seq);
    await carol.waitForMessages(2);
    expect(carol.messages().map((m) => m.seq)).toEqual([seq, stored.seq]);
  });
});
