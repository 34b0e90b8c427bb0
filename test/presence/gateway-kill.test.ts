import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import * as v from "valibot";
import { describe, expect } from "vitest";
import { accept, type HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type ConnectionEvent, ConnectionEvent as EventSchema } from "../../src/protocol/index.js";
import { waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

/**
 * A gateway with 200 connections SIGKILLed: two surviving gateways race to take it over, and
 * exactly one `disconnected` per connection is stored; presence drops its users within the
 * documented bound (`--liveness-timeout` and a quarter of it, plus the reaping).
 */
const LIVENESS_MS = 2000;
const BOUND_MS = LIVENESS_MS * 1.25 + LIVENESS_MS / 4 + 10_000; // the bound, plus room for a loaded machine
const CONNECTIONS = 200;

test.override({
  backendOptions: { authorize: (token) => accept({ user: token, channels: ["room"], presence: ["room"] }) },
});

describe("a gateway killed without a goodbye", () => {
  test("has exactly one disconnected per connection published for it, and leaves presence within the bound", async ({
    nats,
    backend,
    startGateway,
    launch,
  }) => {
    const flags = {
      history: false,
      events: true,
      presence: true,
      livenessTimeout: LIVENESS_MS,
      eventsDuplicateWindow: 30,
    };
    const survivors = [
      await startGateway({ ...flags, presenceJoinLeaveLimit: 1000 }),
      await startGateway(flags),
    ];
    const doomed = await launch.gatewayProcess(nats, [
      ...["--gateway-id", "gw-doomed", "--events", "true", "--presence", "true"],
      ...["--liveness-timeout", String(LIVENESS_MS), "--events-duplicate-window", "30"],
      ...["--max-connections-per-ip", "0", "--history-storage", "memory"],
    ]);
    const watcher = await launch.client(survivors[0] as RunningGateway, "k-watcher");
    const connections: string[] = [];
    for (let i = 0; i < CONNECTIONS; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, j) => launch.client(doomed, `k-${i + j}`)),
      );
      connections.push(...batch.map((client) => String(client.frames[0]?.connection)));
    }
    // Every connection is registered (its connected event is stored after its record).
    await waitUntil(
      async () => (await connectedOf(backend, connections)) === CONNECTIONS,
      "200 connected events",
      {
        timeoutMs: 20_000,
      },
    );
    await waitUntil(async () => (await backend.presence("room")).count === CONNECTIONS + 1, "201 members");

    await doomed.stop("SIGKILL");
    await waitUntil(
      async () => (await backend.presence("room")).count === 1,
      "presence without the dead gateway",
      {
        timeoutMs: BOUND_MS,
      },
    );
    expect((await backend.presence("room")).members.map((m) => m.user)).toEqual(["k-watcher"]);
    expect(await backend.online(["k-0", "k-199", "k-watcher"])).toEqual({ "k-watcher": 1 });
    // The watcher, on a surviving gateway, saw every user leave.
    await waitUntil(
      () => watcher.frames.filter((f) => f.type === "leave").length === CONNECTIONS,
      "200 leave frames",
    );

    // The reaper deletes the dead instance's keys only after its events are stored.
    await waitUntil(
      async () => !(await markers(backend)).some((m) => m.startsWith("gw-doomed-")),
      "the dead instance reaped",
    );
    const ends = (await readEvents(backend)).filter(
      (e) => e.kind === "disconnected" && connections.includes(e.connection),
    );
    expect(ends.length).toBe(CONNECTIONS);
    expect(new Set(ends.map((e) => e.connection)).size).toBe(CONNECTIONS);
    for (const event of ends)
      expect(event).toMatchObject({ gateway: "gw-doomed", code: 1006, clean: false, reason: "GATEWAY_LOST" });
  });
});

async function connectedOf(backend: HeraldBackend, connections: readonly string[]): Promise<number> {
  const wanted = new Set(connections);
  return (await readEvents(backend)).filter((e) => e.kind === "connected" && wanted.has(e.connection)).length;
}

/** Every event stored so far, read with an ordered consumer. */
async function readEvents(backend: HeraldBackend): Promise<ConnectionEvent[]> {
  const jsm = await jetstreamManager(backend.connection);
  const total = (await jsm.streams.info("HERALD_EVENTS")).state.messages;
  if (total === 0) return [];
  const consumer = await jetstream(backend.connection).consumers.get("HERALD_EVENTS");
  const events: ConnectionEvent[] = [];
  const messages = await consumer.consume();
  for await (const msg of messages) {
    events.push(v.parse(EventSchema, msg.json()));
    if (msg.info.pending === 0) break;
  }
  await messages.close();
  return events;
}

/** The registry's instance markers (`<instance>.gateway` keys) with a value. */
async function markers(backend: HeraldBackend): Promise<string[]> {
  const jsm = await jetstreamManager(backend.connection);
  const info = await jsm.streams.info("KV_HERALD_CONNECTIONS", {
    subjects_filter: "$KV.HERALD_CONNECTIONS.*.gateway",
  });
  const live: string[] = [];
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const msg = await jsm.streams.getMessage("KV_HERALD_CONNECTIONS", { last_by_subj: subject });
    if (msg && !msg.header?.get("KV-Operation")) live.push(subject.split(".")[2] as string);
  }
  return live;
}
