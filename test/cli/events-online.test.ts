import { describe, expect } from "vitest";
import { accept } from "../../src/backend/index.js";
import { waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import { runCli } from "./run-cli.js";

test.override({
  backendOptions: {
    authorize: (token) => accept({ user: token, channels: ["room"], presence: ["room"], info: { n: 1 } }),
  },
  gatewayOptions: {
    history: false,
    events: true,
    presence: true,
    livenessTimeout: 2000,
    eventsDuplicateWindow: 10,
  },
});

function lines(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("herald events", () => {
  test("tails the stream from now as JSON lines", async ({ nats, backend, client, launch }) => {
    const tail = launch.cli(["events", "--nats", nats.url, "--count", "3"]);
    // The tail's consumer exists once the process printed nothing and the stream has a consumer.
    await waitUntil(async () => {
      const { jetstreamManager } = await import("@nats-io/jetstream");
      return (
        (await (await jetstreamManager(backend.connection)).streams.info("HERALD_EVENTS")).state
          .consumer_count > 0
      );
    }, "the tail's consumer");
    const ann = await client("cli-ann");
    ann.socket.close(1000);
    const result = await tail.exited();
    expect(result.code).toBe(0);
    expect(lines(result.stdout).map((e) => [e.kind, e.user, e.channel])).toEqual([
      ["connected", "cli-ann", undefined],
      ["subscribed", "cli-ann", "channel.room"],
      ["disconnected", "cli-ann", undefined],
    ]);
  });

  test("reads with a durable consumer, going on where it stopped, and filters by kind", async ({
    nats,
    client,
  }) => {
    const first = await runCli([
      "events",
      "--nats",
      nats.url,
      "--durable",
      "cli",
      "--kind",
      "connected",
      "--count",
      "1",
    ]);
    expect(lines(first.stdout)).toEqual([expect.objectContaining({ kind: "connected", user: "cli-ann" })]);
    const ben = await client("cli-ben");
    ben.close();
    const second = await runCli([
      "events",
      "--nats",
      nats.url,
      "--durable",
      "cli",
      "--kind",
      "connected",
      "--count",
      "1",
    ]);
    expect(lines(second.stdout)).toEqual([expect.objectContaining({ kind: "connected", user: "cli-ben" })]);
  });

  test("refuses an unknown kind", async ({ nats }) => {
    const result = await runCli(["events", "--nats", nats.url, "--kind", "joined"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown kind "joined"');
  });

  test("says when the events stream does not exist, tailing or with a durable consumer", async ({ nats }) => {
    const tail = await runCli(["events", "--nats", nats.url, "--stream", "NO_EVENTS_HERE"]);
    expect(tail.code).toBe(1);
    expect(tail.stderr).toContain("no events stream NO_EVENTS_HERE: gateways create it");
    const durable = await runCli([
      "events",
      "--nats",
      nats.url,
      "--stream",
      "NO_EVENTS_HERE",
      "--durable",
      "cli",
    ]);
    expect(durable.code).toBe(1);
    expect(durable.stderr).toContain("no events stream NO_EVENTS_HERE: gateways create it");
  });
});

describe("herald online", () => {
  test("says who is online with their connections, and lists a channel's members", async ({
    nats,
    backend,
    client,
  }) => {
    await client("cli-cat");
    await client("cli-cat");
    await waitUntil(async () => (await backend.online("cli-cat"))["cli-cat"] === 2, "cat's two connections");
    const online = await runCli(["online", "cli-cat", "cli-dan", "--nats", nats.url]);
    expect(online).toMatchObject({ code: 0, stdout: "cli-cat 2\ncli-dan offline\n" });
    const members = await runCli(["online", "--channel", "room", "--nats", nats.url]);
    expect(members).toMatchObject({ code: 0, stdout: 'cli-cat 2 {"n":1}\n1 member(s)\n' });
  });

  test("refuses an unsafe user id and says when no gateway has presence on", async ({ nats }) => {
    const unsafe = await runCli(["online", "a.b", "--nats", nats.url]);
    expect(unsafe.code).toBe(2);
    const other = await runCli(["online", "x", "--nats", nats.url, "--prefix", "nobody"]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("--presence true");
  });
});
