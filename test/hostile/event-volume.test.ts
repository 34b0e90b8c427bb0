import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect } from "vitest";
import type { StoredConnectionEvent } from "../../src/backend/index.js";
import { waitUntil } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

/**
 * A connection that subscribes and unsubscribes as fast as its frame budget lets it cannot fill
 * the events stream: past `--events-subscribe-limit` (default 60 a minute) its subscribed and
 * unsubscribed events are not stored, and one `dropped` event says how many were not and which
 * channels the connection holds. Its connected and disconnected events are stored all the same,
 * and the stream has a byte cap by default.
 */
const LIMIT = 60;
const PAIRS = 50;

async function scrape(port: number | undefined, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return Number(line?.split(" ")[1] ?? 0);
}

describe("connection events under subscribe churn", () => {
  test.override({ gatewayOptions: { history: false, events: true, eventsStorage: "memory" } });

  test("stores at most the limit a minute, says how many were not, and caps the stream's bytes", async ({
    backend,
    publisher: sdk,
    client,
    gateway,
    raw,
  }) => {
    backend.replies.set("ch-churner", JSON.stringify({ ok: true, user: "ch-churner", channels: ["base"] }));
    const churner = await client("ch-churner");
    const connection = String(churner.frames[0]?.connection);
    // Within the default frame budget (20 a second): a subscribe and an unsubscribe every 120 ms.
    for (let pair = 0; pair < PAIRS; pair++) {
      const paced = new Promise((resolve) => setTimeout(resolve, 120));
      churner.send({ type: "subscribe", channel: "channel.churn" });
      await churner.next("subscribed");
      churner.send({ type: "unsubscribe", channel: "channel.churn" });
      await churner.next("unsubscribed");
      await paced;
    }
    churner.socket.close(1000);

    const events: StoredConnectionEvent[] = [];
    const reading = await sdk.onEvent(
      (event) => {
        if (event.connection === connection) events.push(event);
      },
      { durable: "churn-reader" },
    );
    await waitUntil(() => events.some((e) => e.kind === "disconnected"), "the churner's disconnected", {
      timeoutMs: 20_000,
    });
    await reading.stop();

    const kinds = events.map((e) => e.kind);
    const churn = events.slice(2).filter((e) => e.kind === "subscribed" || e.kind === "unsubscribed");
    const dropped = events.filter((e) => e.kind === "dropped");
    console.log(
      `churn: ${PAIRS * 2} subscribe/unsubscribe events made, ${churn.length} stored, ${events.length} events stored for the connection`,
    );
    // connected, the channel granted at auth, at most the limit, one dropped, disconnected: all within a minute.
    expect(kinds.slice(0, 2)).toEqual(["connected", "subscribed"]);
    expect(kinds.at(-1)).toBe("disconnected");
    expect(churn.length).toBeLessThanOrEqual(LIMIT);
    expect(events.length).toBeLessThanOrEqual(LIMIT + 4);
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({ count: PAIRS * 2 - churn.length, channels: ["channel.base"] });
    expect(kinds.at(-2)).toBe("dropped");
    expect(
      (await scrape(gateway.metricsPort, "herald_events_dropped_total", 'kind="subscribed"')) +
        (await scrape(gateway.metricsPort, "herald_events_dropped_total", 'kind="unsubscribed"')),
    ).toBe(PAIRS * 2 - churn.length);

    const stream = await (await jetstreamManager(raw)).streams.info("HERALD_EVENTS");
    expect(stream.config.max_bytes).toBe(1024 ** 3);
    expect(stream.config.discard).toBe("old");
    console.log(`events stream: ${stream.state.messages} events in ${stream.state.bytes} bytes`);
  });
});
