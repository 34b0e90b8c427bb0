import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect } from "vitest";
import { test } from "../fixtures.js";

/**
 * The streams a gateway keeps, each sized by its own option, asked for more replicas than a lone
 * nats-server holds (JetStream refuses more than 1 outside a cluster). Warnings on a cluster that
 * cannot place them: test/faults/cluster.test.ts.
 */
describe("stream replicas on a lone server", () => {
  test("a gateway refused the replicas it asks for says which stream and which option", async ({
    startGateway,
    raw,
  }) => {
    const refused = (role: string, stream: string, flag: string) =>
      new RegExp(
        `^${role} ${stream} cannot be created with 3 replicas \\(${flag} 3\\): .*set ${flag} to at most`,
      );

    await expect(startGateway({ historyReplicas: 3 })).rejects.toThrow(
      refused("history stream", "HERALD", "--history-replicas"),
    );
    // The registry's buckets come first, then the events stream: both sized by --events-replicas.
    await expect(startGateway({ events: true, eventsReplicas: 3 })).rejects.toThrow(
      refused("registry stream", "KV_HERALD_CONNECTIONS", "--events-replicas"),
    );
    const jsm = await jetstreamManager(raw);
    await jsm.streams.add({ name: "KV_HERALD_CONNECTIONS", subjects: ["$KV.HERALD_CONNECTIONS.>"] });
    await jsm.streams.add({
      name: "KV_HERALD_CONNECTIONS_LIVENESS",
      subjects: ["$KV.HERALD_CONNECTIONS_LIVENESS.>"],
    });
    await expect(startGateway({ events: true, eventsReplicas: 3 })).rejects.toThrow(
      refused("events stream", "HERALD_EVENTS", "--events-replicas"),
    );
  });
});
