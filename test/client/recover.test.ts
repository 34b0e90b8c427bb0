import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MessageFrame } from "../../src/client/index.js";
import { closeClients, observeClient } from "./observed-client.js";
import { type PeerConnection, ScriptedGateway, sleep, until } from "./scripted-gateway.js";

let gateway: ScriptedGateway;

beforeEach(async () => {
  gateway = await ScriptedGateway.start();
});

afterEach(async () => {
  closeClients();
  await gateway.close();
  expect(gateway.invalidFrames).toEqual([]);
});

function message(peer: PeerConnection, channel: string, data: string, seq: number, prev?: number): void {
  peer.send({ type: "message", channel, data, seq, ...(prev === undefined ? {} : { prev }) });
}

const CHANNELS = ["user.1", "channel.news"];

describe("client: recovery", () => {
  it("sends recover on reconnect, drops replayed duplicates, and reconnects on a gap to get the missing ones", async () => {
    const observed = observeClient(gateway.url);
    const userOne: MessageFrame[] = [];
    observed.client.channel("user.1", (m) => userOne.push(m));

    const first = await gateway.connection(0);
    await first.ready({ channels: CHANNELS, epoch: "E1", positions: { "user.1": 0, "channel.news": 0 } });
    message(first, "user.1", "a", 1, 0);
    message(first, "user.1", "b", 2, 1);
    message(first, "channel.news", "n", 3, 0);
    await until(() => observed.messages.length === 3, "three live messages");
    first.socket.terminate();

    const second = await gateway.connection(1);
    const auth = await second.frame("auth");
    expect(auth.recover).toEqual({ epoch: "E1", since: { "user.1": 2, "channel.news": 3 } });
    await second.ready({
      channels: CHANNELS,
      epoch: "E1",
      recovered: true,
      positions: { "user.1": 4, "channel.news": 3 },
    });
    // replay overlapping what was delivered, then the missed one, then live
    message(second, "user.1", "b", 2);
    message(second, "user.1", "c", 4);
    message(second, "user.1", "d", 5, 4);
    // live message whose previous one (6) never arrived: a gap
    message(second, "user.1", "f", 7, 6);
    expect((await second.waitClosed()).code).toBe(1000);

    const third = await gateway.connection(2);
    const recover = (await third.frame("auth")).recover;
    expect(recover).toEqual({ epoch: "E1", since: { "user.1": 5, "channel.news": 3 } });
    await third.ready({ channels: CHANNELS, epoch: "E1", recovered: true });
    message(third, "user.1", "e", 6);
    message(third, "user.1", "f", 7);
    message(third, "user.1", "g", 8, 7);
    await until(() => observed.messages.length === 8, "every message once");

    expect(observed.messages.map((m) => m.data)).toEqual(["a", "b", "n", "c", "d", "e", "f", "g"]);
    expect(userOne.map((m) => m.seq)).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(observed.resyncs).toEqual([]);
    // The gap reconnect is the client's own doing, not an error for the application.
    expect(observed.errors.map((e) => e.code)).toEqual(["CONNECTION_LOST"]);
    expect(gateway.connections).toHaveLength(3);
  });

  it("checks the first live message against ready.positions and recovers what came before it", async () => {
    const observed = observeClient(gateway.url);
    const first = await gateway.connection(0);
    await first.ready({ epoch: "E1", positions: { "user.1": 118 } });
    // 119 never arrived
    message(first, "user.1", "x", 120, 119);
    expect((await first.waitClosed()).code).toBe(1000);
    const second = await gateway.connection(1);
    expect((await second.frame("auth")).recover).toEqual({ epoch: "E1", since: { "user.1": 118 } });
    await second.ready({ epoch: "E1", recovered: true, positions: { "user.1": 120 } });
    message(second, "user.1", "w", 119, 118);
    message(second, "user.1", "x", 120, 119);
    await until(() => observed.messages.length === 2, "both messages");
    expect(observed.messages.map((m) => m.seq)).toEqual([119, 120]);
    expect(observed.errors).toEqual([]);
  });

  it("fires resync when recovery was incomplete, and takes the next live message as the new start", async () => {
    const observed = observeClient(gateway.url);
    const first = await gateway.connection(0);
    await first.ready({ epoch: "E1" });
    message(first, "user.1", "old", 10, 9);
    await until(() => observed.messages.length === 1, "a message");
    first.socket.terminate();

    const second = await gateway.connection(1);
    expect((await second.frame("auth")).recover).toEqual({ epoch: "E1", since: { "user.1": 10 } });
    await second.ready({ epoch: "E1", recovered: false });
    await until(() => observed.resyncs.length === 1, "resync");
    expect(observed.resyncs[0]!.recovered).toBe(false);
    // prev 49 is not 10, but after an incomplete recovery that is no gap to chase
    message(second, "user.1", "new", 50, 49);
    await until(() => observed.messages.length === 2, "the live message");
    expect(gateway.connections).toHaveLength(2);
    expect(second.closed).toBeUndefined();
  });

  it("forgets sequences of a recreated stream (new epoch)", async () => {
    const observed = observeClient(gateway.url);
    const first = await gateway.connection(0);
    await first.ready({ epoch: "E1" });
    message(first, "user.1", "old", 10, 9);
    await until(() => observed.messages.length === 1, "a message");
    first.socket.terminate();

    const second = await gateway.connection(1);
    await second.ready({ epoch: "E2", recovered: false });
    // seq 3 is below 10, but it belongs to the new stream: not a duplicate
    message(second, "user.1", "fresh", 3, 2);
    await until(() => observed.messages.length === 2, "the message of the new stream");
    second.socket.terminate();
    const third = await gateway.connection(2);
    expect((await third.frame("auth")).recover).toEqual({ epoch: "E2", since: { "user.1": 3 } });
  });

  it("with history off, sends no recover and fires resync after a reconnect (delivery is at-most-once)", async () => {
    const observed = observeClient(gateway.url);
    const first = await gateway.connection(0);
    await first.ready();
    first.send({ type: "message", channel: "user.1", data: "x" });
    await until(() => observed.messages.length === 1, "a message");
    first.socket.terminate();
    const second = await gateway.connection(1);
    expect((await second.frame("auth")).recover).toBeUndefined();
    await second.ready();
    await until(() => observed.resyncs.length === 1, "resync");
  });

  it("with recover: false, never sends recover and delivers what arrives", async () => {
    const observed = observeClient(gateway.url, { recover: false });
    const first = await gateway.connection(0);
    await first.ready({ epoch: "E1" });
    message(first, "user.1", "a", 1, 0);
    message(first, "user.1", "c", 3, 2);
    await until(() => observed.messages.length === 2, "two messages");
    expect(first.closed).toBeUndefined();
    first.socket.terminate();
    const second = await gateway.connection(1);
    expect((await second.frame("auth")).recover).toBeUndefined();
    await second.ready({ epoch: "E1" });
    await until(() => observed.resyncs.length === 1, "resync");
  });

  it("backs off when gaps keep coming back after each recovery", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const observed = observeClient(gateway.url, { backoff: { initialMs: 400, random: () => 0.999 } });
      gateway.script(async (peer) => {
        await peer.ready({ epoch: "E1", recovered: gateway.connections.length > 1 ? true : undefined });
        message(peer, "user.1", "a", 1, 0);
        // always a gap after 1
        message(peer, "user.1", "z", 9, 8);
      });
      await gateway.connection(0);
      await until(() => observed.client.state === "reconnecting", "the first gap");
      // The first gap reconnects without delay.
      await vi.advanceTimersByTimeAsync(0);
      await gateway.connection(1);
      await until(() => observed.client.state === "reconnecting", "the second gap");
      // The second gap in a row waits for the backoff: floor(0.999 * 400) = 399 ms.
      await vi.advanceTimersByTimeAsync(398);
      await sleep(50);
      expect(gateway.connections).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(1);
      await gateway.connection(2);
      expect(observed.messages.map((m) => m.data)).toEqual(["a"]);
    } finally {
      vi.useRealTimers();
    }
  });
});
