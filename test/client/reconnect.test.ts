import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CloseCode } from "../../src/protocol/close-codes.js";
import { closeClients, observeClient } from "./observed-client.js";
import { ScriptedGateway, sleep, until } from "./scripted-gateway.js";
import { seededRandom } from "./seeded-random.js";

let gateway: ScriptedGateway;

beforeEach(async () => {
  gateway = await ScriptedGateway.start();
  // Only the client's timers are faked; sockets and the test's own waits run on the real clock.
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});

afterEach(async () => {
  vi.useRealTimers();
  closeClients();
  await gateway.close();
  expect(gateway.invalidFrames).toEqual([]);
});

/** Records every draw of a seeded random source, so the test knows each jittered delay exactly. */
function recordedRandom(seed: number): { random: () => number; draws: number[] } {
  const next = seededRandom(seed);
  const draws: number[] = [];
  return {
    draws,
    random: () => {
      const r = next();
      draws.push(r);
      return r;
    },
  };
}

/** Asserts that connection `index` opens exactly `delayMs` of (fake) time from now, not a ms earlier. */
async function expectNextConnectionAfter(index: number, delayMs: number): Promise<void> {
  if (delayMs > 0) {
    await vi.advanceTimersByTimeAsync(delayMs - 1);
    await sleep(50);
    expect(gateway.connections, `connection #${index} came before ${delayMs} ms`).toHaveLength(index);
  }
  await vi.advanceTimersByTimeAsync(1);
  await gateway.connection(index);
}

describe("client: reconnect policy", () => {
  it("retries 1013 (try again later) with exponential backoff and full jitter, attempts reset after ready", async () => {
    const { random, draws } = recordedRandom(7);
    let accept = false;
    gateway.script(async (peer) => {
      if (accept) return void peer.ready();
      await peer.frame("auth");
      peer.fail("BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
    });
    const observed = observeClient(gateway.url, { backoff: { initialMs: 1000, maxMs: 4000, random } });

    const ceilings = [1000, 2000, 4000, 4000, 4000];
    for (const [attempt, ceiling] of ceilings.entries()) {
      await gateway.connection(attempt);
      await until(() => draws.length === attempt + 1, `backoff draw #${attempt}`);
      expect(observed.client.state).toBe("reconnecting");
      const delay = Math.floor(draws[attempt]! * ceiling);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(ceiling);
      if (attempt === ceilings.length - 1) accept = true;
      await expectNextConnectionAfter(attempt + 1, delay);
    }
    await until(() => observed.client.state === "ready", "ready after the retries");
    expect(observed.errors).toHaveLength(ceilings.length);
    for (const error of observed.errors) {
      expect(error).toMatchObject({ code: "BACKEND_UNAVAILABLE", closeCode: 1013, retryable: true });
    }
    // Every attempt asked for a token of its own.
    expect(observed.tokenCalls()).toBe(ceilings.length + 1);

    // After ready, the next failure starts from the smallest ceiling again.
    gateway.connections.at(-1)!.socket.close(CloseCode.TryAgainLater, "overloaded");
    await until(() => draws.length === ceilings.length + 1, "the draw after ready");
    await expectNextConnectionAfter(ceilings.length + 1, Math.floor(draws.at(-1)! * 1000));
  });

  it("never reconnects after a refused token (4401) until the application calls connect()", async () => {
    gateway.script(async (peer) => {
      await peer.frame("auth");
      peer.fail("AUTH_REFUSED", CloseCode.AuthRefused, { reason: "token_expired" });
    });
    const observed = observeClient(gateway.url);
    await until(() => observed.client.state === "closed", "closed");
    expect(observed.errors).toHaveLength(1);
    expect(observed.errors[0]).toMatchObject({
      code: "AUTH_REFUSED",
      closeCode: 4401,
      retryable: false,
      reason: "token_expired",
    });
    expect(observed.states).toEqual(["connecting", "authenticating", "closed"]);

    await vi.advanceTimersByTimeAsync(10 * 60_000);
    await sleep(100);
    expect(gateway.connections).toHaveLength(1);
    expect(observed.tokenCalls()).toBe(1);

    gateway.script((peer) => void peer.ready());
    observed.client.connect();
    await until(() => observed.client.state === "ready", "ready after connect()");
    expect(gateway.connections).toHaveLength(2);
    expect((await gateway.connections[1]!.frame("auth")).token).toBe("token-2");
  });

  it("stops on every other non-retryable close as well (4400 invalid frame, 1000 normal)", async () => {
    for (const [code, errorCode] of [
      [CloseCode.InvalidFrame, "INVALID_FRAME"],
      [CloseCode.Normal, undefined],
    ] as const) {
      const before = gateway.connections.length;
      gateway.script(async (peer) => {
        await peer.ready();
        if (errorCode) peer.fail(errorCode, code);
        else peer.socket.close(code, "bye");
      });
      const observed = observeClient(gateway.url);
      await until(() => observed.client.state === "closed", `closed after ${code}`);
      await vi.advanceTimersByTimeAsync(60_000);
      await sleep(50);
      expect(gateway.connections).toHaveLength(before + 1);
      expect(observed.errors.at(-1)).toMatchObject({
        code: errorCode ?? "CONNECTION_CLOSED",
        closeCode: code,
        retryable: false,
      });
    }
  });

  it("reconnects after 1012 (gateway draining) after a short random delay, not the grown backoff", async () => {
    let connection = 0;
    gateway.script(async (peer) => {
      const index = connection++;
      if (index === 0) {
        await peer.frame("auth");
        return peer.fail("BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
      }
      if (index === 1) {
        await peer.frame("auth");
        return peer.fail("DRAINING", CloseCode.ServiceRestart);
      }
      await peer.ready();
    });
    const observed = observeClient(gateway.url, { backoff: { initialMs: 1000, random: () => 0.5 } });
    await gateway.connection(0);
    await until(() => observed.client.state === "reconnecting", "reconnecting after 1013");
    await expectNextConnectionAfter(1, 500);
    await until(() => observed.errors.length === 2, "the DRAINING error");
    // The backoff would now wait 0.5 * 2000 ms; a drain waits 0.5 * initialMs.
    await expectNextConnectionAfter(2, 500);
    await until(() => observed.client.state === "ready", "ready on the third connection");
    expect(observed.errors[1]).toMatchObject({ code: "DRAINING", closeCode: 1012, retryable: true });
  });

  it("reports a throwing getToken and retries with backoff, then connects with the next token", async () => {
    let calls = 0;
    const getToken = async (): Promise<string> => {
      calls++;
      if (calls === 1) throw new Error("session service down");
      if (calls === 2) return "";
      return `good-${calls}`;
    };
    gateway.script((peer) => void peer.ready());
    const observed = observeClient(gateway.url, {
      getToken,
      backoff: { initialMs: 1000, random: () => 0.5 },
    });
    await until(() => observed.errors.length === 1, "the first token error");
    expect(observed.errors[0]).toMatchObject({ code: "TOKEN_UNAVAILABLE", retryable: true });
    expect((observed.errors[0]!.cause as Error).message).toBe("session service down");
    expect(observed.client.state).toBe("reconnecting");
    expect(gateway.connections).toHaveLength(0);

    await vi.advanceTimersByTimeAsync(500);
    await until(() => observed.errors.length === 2, "the empty-token error");
    expect(observed.errors[1]!.message).toMatch(/non-empty string/);
    await vi.advanceTimersByTimeAsync(999);
    await sleep(50);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    const peer = await gateway.connection(0);
    expect((await peer.frame("auth")).token).toBe("good-3");
    await until(() => observed.client.state === "ready", "ready");
  });

  it("asks getToken again on every reconnect and sends the new token", async () => {
    gateway.script((peer) => void peer.ready());
    const observed = observeClient(gateway.url);
    await until(() => observed.client.state === "ready", "ready");
    gateway.connections[0]!.socket.terminate();
    await until(() => observed.client.state === "reconnecting", "reconnecting");
    await vi.advanceTimersByTimeAsync(0);
    await until(() => observed.client.state === "ready" && gateway.connections.length === 2, "ready again");
    expect((await gateway.connections[0]!.frame("auth")).token).toBe("token-1");
    expect((await gateway.connections[1]!.frame("auth")).token).toBe("token-2");
    expect(observed.tokenCalls()).toBe(2);
    expect(observed.errors.map((e) => [e.code, e.closeCode])).toEqual([["CONNECTION_LOST", 1006]]);
  });

  it("gives up an attempt that is not ready within the connect timeout, and retries", async () => {
    // The first connection never answers; the retry does.
    gateway.script((peer) => {
      if (gateway.connections.length > 1) void peer.ready();
    });
    const observed = observeClient(gateway.url, { connectTimeoutMs: 2000 });
    const silent = await gateway.connection(0);
    await silent.frame("auth");
    await vi.advanceTimersByTimeAsync(1999);
    await sleep(50);
    expect(silent.closed).toBeUndefined();
    expect(observed.client.state).toBe("authenticating");
    await vi.advanceTimersByTimeAsync(1);
    expect((await silent.waitClosed()).code).toBe(1000);
    expect(observed.errors.map((e) => e.code)).toEqual(["CONNECT_TIMEOUT"]);
    expect(observed.client.state).toBe("reconnecting");
    // The zero retry delay was set inside a fake-timer tick, which the fake clock stretches to 1 ms.
    await vi.advanceTimersByTimeAsync(1);
    await until(() => observed.client.state === "ready", "ready on the retry");
  });
});

describe("client: the browser's online event", () => {
  it("skips the rest of a backoff delay when the network comes back", async () => {
    // a window-like event target for the duration of the test
    const network = new EventTarget();
    const global = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
    global.addEventListener = network.addEventListener.bind(network);
    global.removeEventListener = network.removeEventListener.bind(network);
    try {
      gateway.script(async (peer) => {
        await peer.frame("auth");
        peer.fail("BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
      });
      const observed = observeClient(gateway.url, {
        backoff: { initialMs: 60_000, maxMs: 60_000, random: () => 0.99 },
      });
      await until(() => observed.client.state === "reconnecting", "reconnecting");
      expect(gateway.connections).toHaveLength(1);
      gateway.script((peer) => void peer.ready());
      network.dispatchEvent(new Event("online"));
      await until(() => observed.client.state === "ready", "ready right after online");
      expect(gateway.connections).toHaveLength(2);
      // a closed client no longer listens
      observed.client.close();
      network.dispatchEvent(new Event("online"));
      await sleep(50);
      expect(gateway.connections).toHaveLength(2);
    } finally {
      delete global.addEventListener;
      delete global.removeEventListener;
    }
  });
});

describe("client: gateway down and back on the same port", () => {
  it("keeps retrying while nothing listens and connects once the gateway is back", async () => {
    vi.useRealTimers();
    gateway.script((peer) => void peer.ready());
    const observed = observeClient(gateway.url, { backoff: { initialMs: 20, maxMs: 100 } });
    await until(() => observed.client.state === "ready", "ready");
    const port = Number(new URL(gateway.url).port);
    await gateway.close();
    await until(() => observed.errors.length >= 3, "failed attempts while the gateway is down");
    expect(observed.errors.every((e) => e.code === "CONNECTION_LOST" && e.retryable)).toBe(true);
    expect(observed.client.state).not.toBe("closed");

    gateway = await ScriptedGateway.start(port);
    gateway.script((peer) => void peer.ready());
    await until(() => observed.client.state === "ready", "ready on the restarted gateway");
    expect(observed.states).toContain("reconnecting");
    expect(observed.states.at(-1)).toBe("ready");
  });
});
