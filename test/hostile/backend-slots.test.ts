import type { Msg } from "@nats-io/nats-core";
import { describe, expect } from "vitest";
import { pollFor, type ReceivedFrame, type TestClient, waitUntil } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

/** Sends a JSON ping and waits for its pong: every frame sent before it has been handled. */
async function handled(c: TestClient): Promise<void> {
  c.send({ type: "ping" });
  await c.next("pong");
}

const ofType = (c: TestClient, type: string): ReceivedFrame[] => c.frames.filter((f) => f.type === type);

/**
 * What one client address keeps waiting at the backend is bounded, however its connections come
 * and go: an RPC call or a subscribe holds a slot of `--max-in-flight-per-ip` until the backend
 * answers or the request times out, also after its connection closed; and a subscribe counts
 * against its connection's `--max-subscribes-in-flight` until answered, unsubscribed or not.
 */
describe("calls and subscribes across reconnects", () => {
  const PER_ADDRESS = 48;
  const CYCLES = 20;
  const CALLS = 16; // --max-rpc-in-flight, the default
  // No call times out while the test runs: what waits at the backend is what the gateway sent.
  test.override({ gatewayOptions: { maxInFlightPerIp: PER_ADDRESS, rpcTimeout: 600_000 } });

  test("never keeps more than --max-in-flight-per-ip waiting at the backend from one address", async ({
    client,
    raw,
    gateway,
  }) => {
    const held: Msg[] = [];
    let answering = false;
    raw.subscribe("herald.rpc.hold", {
      callback: (_err, msg) => {
        if (answering) msg.respond(JSON.stringify({ ok: true, data: "at once" }));
        else held.push(msg);
      },
    });
    await raw.flush();
    const refusals: ReceivedFrame[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const c = await client("mallory");
      for (let id = 0; id < CALLS; id++) c.send({ type: "rpc", id, method: "hold" });
      await handled(c);
      refusals.push(...ofType(c, "rpc_error"));
      c.close();
    }
    const sent = CYCLES * CALLS - refusals.length;
    expect(sent, `${sent} calls of ${CYCLES * CALLS} sent to the backend`).toBe(PER_ADDRESS);
    expect(new Set(refusals.map((f) => f.code))).toEqual(new Set(["TOO_MANY_FROM_ADDRESS"]));
    expect(refusals[0]?.message).toContain("from this address");
    await waitUntil(() => held.length >= sent, "the calls at the backend");
    expect(held).toHaveLength(PER_ADDRESS);

    // subscribes share the address's slots
    const subscriber = await client("mallory");
    subscriber.send({ type: "subscribe", channel: "channel.news" });
    expect(await subscriber.next("subscribe_error")).toMatchObject({ code: "TOO_MANY_FROM_ADDRESS" });
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
    expect(metrics).toContain(`herald_in_flight_per_ip_refused_total{kind="rpc"} ${refusals.length}`);
    expect(metrics).toContain('herald_in_flight_per_ip_refused_total{kind="subscribe"} 1');

    // once the backend answers, the address's slots are free again
    answering = true;
    for (const msg of held) msg.respond(JSON.stringify({ ok: true, data: "late" }));
    await raw.flush();
    let id = 100;
    const answer = await pollFor(
      async () => {
        subscriber.send({ type: "rpc", id: ++id, method: "hold" });
        const frame = await subscriber.next(undefined);
        return frame.type === "rpc_error" && frame.code === "TOO_MANY_FROM_ADDRESS" ? undefined : frame;
      },
      "a call accepted again",
      { intervalMs: 100 },
    );
    expect(answer).toMatchObject({ type: "rpc_result", data: "at once" });
  });
});

describe("subscribes across reconnects", () => {
  const PER_ADDRESS = 48;
  const CYCLES = 20;
  const SUBSCRIBES = 8; // --max-subscribes-in-flight, the default
  test.override({ gatewayOptions: { maxInFlightPerIp: PER_ADDRESS, subscribeRequestTimeout: 600_000 } });

  test("never keep more than --max-in-flight-per-ip waiting at the backend from one address", async ({
    client,
    backend,
  }) => {
    const refusals: ReceivedFrame[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const c = await client("mallory");
      for (let i = 0; i < SUBSCRIBES; i++) {
        const channel = `channel.held${cycle}x${i}`;
        backend.subscribeReplies.set(channel, null);
        c.send({ type: "subscribe", channel });
      }
      await handled(c);
      refusals.push(...ofType(c, "subscribe_error"));
      c.close();
    }
    const sent = CYCLES * SUBSCRIBES - refusals.length;
    expect(sent, `${sent} subscribes of ${CYCLES * SUBSCRIBES} sent to the backend`).toBe(PER_ADDRESS);
    expect(new Set(refusals.map((f) => f.code))).toEqual(new Set(["TOO_MANY_FROM_ADDRESS"]));
    await waitUntil(() => backend.subscribeRequests.length >= sent, "the subscribes at the backend");
    expect(backend.subscribeRequests).toHaveLength(PER_ADDRESS);
  });
});

describe("subscribe and unsubscribe pairs", () => {
  const PAIRS = 16;
  const IN_FLIGHT = 8; // --max-subscribes-in-flight, the default

  test("count against --max-subscribes-in-flight until the backend answers", async ({ client, backend }) => {
    const channels = Array.from({ length: PAIRS }, (_, i) => `channel.pair${i}`);
    for (const channel of channels) backend.subscribeReplies.set(channel, null); // answered by the timeout
    const c = await client("flapper");
    for (const channel of channels) {
      c.send({ type: "subscribe", channel });
      c.send({ type: "unsubscribe", channel });
    }
    await handled(c);
    const refused = ofType(c, "subscribe_error");
    const sent = PAIRS - refused.length;
    expect(sent, `${sent} subscribes sent to the backend at once`).toBe(IN_FLIGHT);
    expect(new Set(refused.map((f) => f.code))).toEqual(new Set(["TOO_MANY_REQUESTS"]));
    await waitUntil(() => backend.subscribeRequests.length >= sent, "the subscribes at the backend");
    expect(backend.subscribeRequests).toHaveLength(IN_FLIGHT);

    // after --subscribe-request-timeout the slots are free again
    const subscribed = await pollFor(
      async () => {
        c.send({ type: "subscribe", channel: "channel.after" });
        const frame = await c.next(undefined);
        return frame.type === "subscribed" ? frame : undefined;
      },
      "a subscribe accepted again",
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    expect(subscribed).toMatchObject({ channel: "channel.after" });
  });
});
