import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import {
  connect,
  type HeraldClient,
  type HeraldClientError,
  type ReadyFrame,
} from "../../src/client/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type NatsServer, startNats, startTestGateway } from "../../src/testing/index.js";

/** The client SDK against a real gateway: retention passing while offline, and token refresh under load. */
describe("client lifecycle against a real gateway", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;
  let client: HeraldClient | undefined;
  let tokenLifetime = 0;
  let refusedUser = "";

  beforeEach(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url });
    backend.serveAuth((token, context) => {
      const user = token.split("#")[0] ?? "";
      if (context.kind === "refresh" && user === refusedUser)
        return { ok: false, error: { code: "revoked", message: "revoked" } };
      return accept({ user, ...(tokenLifetime ? { expiresAt: Date.now() + tokenLifetime } : {}) });
    });
  });
  afterEach(async () => {
    client?.close();
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  it("tells the application to resync when the client was offline longer than the retention", async () => {
    gateway = await startTestGateway(nats, { history: true, historyMaxAge: 1, historyStream: "SHORT" });
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
    gateway = await startTestGateway(nats, { history: true, historyMaxAge: 1, historyStream: "SHORT", port });
    await waitFor(() => readies.length === 2, 15_000);
    expect(readies[1]?.recovered).toBe(false);
    expect(resyncs).toHaveLength(1);
    await backend.publishStored("olive", { n: 3 });
    await waitFor(() => received.length === 2);
    expect(received).toEqual([1, 3]);
  });

  it("refreshes expiring tokens without reconnecting or losing a message", async () => {
    tokenLifetime = 1200;
    gateway = await startTestGateway(nats, { history: true, refreshBefore: 800 });
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

  it("stops with the documented code when a refresh is refused", async () => {
    tokenLifetime = 4000;
    refusedUser = "quinn";
    gateway = await startTestGateway(nats, { refreshBefore: 3500 });
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

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
