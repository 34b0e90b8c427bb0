import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect } from "vitest";
import { WebSocket } from "ws";
import { accept } from "../../src/backend/index.js";
import {
  connect,
  type HeraldClient,
  type HeraldClientError,
  type ReadyFrame,
} from "../../src/client/index.js";
import { waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

const waitFor = (check: () => boolean, timeoutMs = 10_000) =>
  waitUntil(check, "the client's state", { timeoutMs, intervalMs: 20 });

/** The client SDK against a real gateway: retention passing while offline, and token refresh under load. */
describe("client lifecycle against a real gateway", () => {
  let client: HeraldClient | undefined;
  let tokenLifetime = 0;
  let refusedUser = "";
  test.override({
    backendOptions: {
      authorize: (token, context) => {
        const user = token.split("#")[0] ?? "";
        if (context.kind === "refresh" && user === refusedUser)
          return { ok: false, error: { code: "revoked", message: "revoked" } };
        return accept({ user, ...(tokenLifetime ? { expiresAt: Date.now() + tokenLifetime } : {}) });
      },
    },
  });
  /** Set by the test that stores in a stream of its own, over the subjects the others' stream takes. */
  let shortStream = false;
  test.afterEach(async ({ backend }) => {
    client?.close();
    if (shortStream) await (await jetstreamManager(backend.connection)).streams.delete("SHORT");
    shortStream = false;
  });

  test("tells the application to resync when the client was offline longer than the retention", async ({
    backend,
    startGateway,
  }) => {
    shortStream = true;
    const gateway = await startGateway({ historyMaxAge: 1, historyStream: "SHORT" });
    const readies: ReadyFrame[] = [];
    const resyncs: ReadyFrame[] = [];
    client = connect({
      url: gateway.url,
      getToken: () => "olive",
      WebSocket,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    client.on("ready", (r) => readies.push(r));
    client.on("resync", (r) => resyncs.push(r));
    const received: number[] = [];
    client.on("message", (m) => received.push((m.data as { n: number }).n));
    await waitFor(() => readies.length === 1);
    await backend.publishStored("olive", { n: 1 });
    await waitFor(() => received.length === 1);

    // offline: the gateway goes away, messages are published and expire before it returns
    const port = gateway.port;
    await gateway.close();
    await backend.publishStored("olive", { n: 2 });
    await new Promise((r) => setTimeout(r, 2500));
    await startGateway({ historyMaxAge: 1, historyStream: "SHORT", port });
    await waitFor(() => readies.length === 2, 15_000);
    expect(readies[1]?.recovered).toBe(false);
    expect(resyncs).toHaveLength(1);
    await backend.publishStored("olive", { n: 3 });
    await waitFor(() => received.length === 2);
    expect(received).toEqual([1, 3]);
  });

  test("refreshes expiring tokens without reconnecting or losing a message", async ({
    backend,
    startGateway,
  }) => {
    tokenLifetime = 1200;
    const gateway = await startGateway({ refreshBefore: 800 });
    let tokens = 0;
    const readies: ReadyFrame[] = [];
    client = connect({ url: gateway.url, getToken: () => `pia#${++tokens}`, WebSocket });
    client.on("ready", (r) => readies.push(r));
    const received: number[] = [];
    client.on("message", (m) => received.push((m.data as { n: number }).n));
    await waitFor(() => readies.length === 1);
    for (let n = 1; n <= 150; n++) {
      await backend.publish("pia", { n });
      await new Promise((r) => setTimeout(r, 20)); // 3 s: past two token lifetimes
    }
    await waitFor(() => received.length === 150);
    expect(received).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(readies).toHaveLength(1);
    expect(tokens).toBeGreaterThanOrEqual(3);
  });

  test("stops with the documented code when a refresh is refused", async ({ startGateway }) => {
    tokenLifetime = 4000;
    refusedUser = "quinn";
    const gateway = await startGateway({ history: false, refreshBefore: 3500 });
    const errors: HeraldClientError[] = [];
    const states: string[] = [];
    client = connect({ url: gateway.url, getToken: () => "quinn", WebSocket });
    client.on("error", (e) => errors.push(e));
    client.on("state", (s) => states.push(s));
    await waitFor(() => states.at(-1) === "closed", 10_000).catch((e: Error) => {
      const seen = errors.map((x) => `${x.code} ${x.closeCode}`).join(", ");
      throw new Error(`${e.message}; states ${states.join(" > ")}; errors ${seen}`);
    });
    expect(errors.some((e) => e.code === "REFRESH_REFUSED" && e.closeCode === 4401)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(states.filter((s) => s === "ready")).toHaveLength(1); // no reconnect loop
  });
});
