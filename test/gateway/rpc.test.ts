import { headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { describe, expect } from "vitest";
import { HeraldBackend, RpcRefusal } from "../../src/backend/index.js";
import type { RpcRequest } from "../../src/protocol/index.js";
import { type TestClient, waitUntil } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";

/**
 * Client RPC on a real nats-server: a call is forwarded on `<prefix>.rpc.<method>` with its caller in
 * the envelope and answered by exactly one `rpc_result` or `rpc_error` with the same id, whatever
 * the backend does. No outcome closes the connection.
 */
const test = base.extend<{ herald: HeraldBackend }>({
  herald: [
    async ({ nats }, use) => {
      const herald = await HeraldBackend.connect({ servers: nats.url, onError: () => undefined });
      await use(herald);
      await herald.close();
    },
    { scope: "file" },
  ],
});

/** A responder that answers each request with what `reply` makes of it; resolves once subscribed. */
async function rawResponder(raw: NatsConnection, method: string, reply: (msg: Msg) => void): Promise<Msg[]> {
  const seen: Msg[] = [];
  raw.subscribe(`herald.rpc.${method}`, {
    callback: (_err, msg) => {
      seen.push(msg);
      reply(msg);
    },
  });
  await raw.flush();
  return seen;
}

/** The connection still works: a ping is answered. */
async function stillOpen(c: TestClient): Promise<void> {
  c.send({ type: "ping" });
  await c.next("pong");
  expect(c.closed).toBeUndefined();
}

describe("client rpc", () => {
  test("answers with the backend's result and names the caller in the request", async ({
    client,
    herald,
    gateway,
  }) => {
    herald.onRpc("echo", (data, context) => ({ data, context }));
    await herald.flush();
    const c = await client("alice");
    const ready = c.frames[0] as unknown as { connection: string };
    c.send({ type: "rpc", id: 7, method: "echo", data: { order: 42, "€": [1, null] } });
    expect(await c.next("rpc_result")).toEqual({
      type: "rpc_result",
      id: 7,
      data: {
        data: { order: 42, "€": [1, null] },
        context: { user: "alice", connection: ready.connection, gateway: gateway.id, method: "echo" },
      },
    });
    // no data is null; a handler returning nothing answers null
    herald.onRpc("nothing", () => undefined);
    await herald.flush();
    c.send({ type: "rpc", id: 8, method: "echo" });
    expect(await c.next("rpc_result")).toMatchObject({ id: 8, data: { data: null } });
    c.send({ type: "rpc", id: 9, method: "nothing", data: 1 });
    expect(await c.next("rpc_result")).toEqual({ type: "rpc_result", id: 9, data: null });
  });

  test("passes a refusal on as REFUSED, with the backend's code as reason and its message cut", async ({
    client,
    herald,
  }) => {
    herald.onRpc("guarded", (data) => {
      if (data === "long") throw new RpcRefusal("forbidden", `no ${"x".repeat(300)}`);
      throw new RpcRefusal("not_found", "no such order");
    });
    await herald.flush();
    const c = await client("bob");
    c.send({ type: "rpc", id: 1, method: "guarded" });
    expect(await c.next("rpc_error")).toEqual({
      type: "rpc_error",
      id: 1,
      code: "REFUSED",
      reason: "not_found",
      message: "no such order",
    });
    c.send({ type: "rpc", id: 2, method: "guarded", data: "long" });
    const long = await c.next("rpc_error");
    expect(long).toMatchObject({ id: 2, code: "REFUSED", reason: "forbidden" });
    expect(long.message).toBe(`no ${"x".repeat(61)}…`);
    await stillOpen(c);
  });

  test("answers BACKEND_ERROR for a handler that throws and for service-error headers", async ({
    client,
    herald,
    raw,
  }) => {
    herald.onRpc("broken", () => {
      throw new Error("database on fire\nat line 3");
    });
    await rawResponder(raw, "micro", (msg) => {
      const h = headers();
      h.set("Nats-Service-Error", `overloaded ${"y".repeat(200)}`);
      h.set("Nats-Service-Error-Code", "503");
      msg.respond(undefined, { headers: h });
    });
    await herald.flush();
    const c = await client("carol");
    c.send({ type: "rpc", id: 1, method: "broken" });
    const thrown = await c.next("rpc_error");
    expect(thrown).toMatchObject({ id: 1, code: "BACKEND_ERROR" });
    expect(thrown.message).not.toContain("fire"); // the SDK never passes the exception on
    c.send({ type: "rpc", id: 2, method: "micro" });
    const micro = await c.next("rpc_error");
    expect(micro).toMatchObject({ id: 2, code: "BACKEND_ERROR" });
    expect(micro.message).toContain('"503"');
    expect(String(micro.message).length).toBeLessThan(140); // the description quoted briefly
    await stillOpen(c);
  });

  test("answers NO_RESPONDERS for a method nobody serves", async ({ client }) => {
    const c = await client("dave");
    c.send({ type: "rpc", id: 3, method: "nobody-home" });
    expect(await c.next("rpc_error")).toMatchObject({ id: 3, code: "NO_RESPONDERS" });
    await stillOpen(c);
  });

  test("answers BACKEND_INVALID_REPLY for replies that break the schema or the size bound", async ({
    client,
    raw,
  }) => {
    const replies: Record<string, string> = {
      "not-json": "{oops",
      "no-ok": JSON.stringify({ data: 1 }),
      "bad-code": JSON.stringify({ ok: false, error: { code: "c".repeat(65), message: "m" } }),
      huge: JSON.stringify({ ok: true, data: "z".repeat(300_000) }),
      deep: `{"ok":true,"data":${"[".repeat(20_000)}${"]".repeat(20_000)}}`,
    };
    for (const [method, body] of Object.entries(replies))
      await rawResponder(raw, method, (m) => m.respond(body));
    const c = await client("erin");
    const methods = Object.keys(replies);
    for (const [id, method] of methods.entries()) c.send({ type: "rpc", id, method });
    for (const id of methods.keys()) {
      const error = await c.next("rpc_error");
      expect(error).toMatchObject({ id, code: "BACKEND_INVALID_REPLY" });
      expect(String(error.message).length).toBeLessThan(200);
    }
    await stillOpen(c);
  });

  test("answers TIMEOUT after the call's own timeout", async ({ client, raw }) => {
    const seen = await rawResponder(raw, "silent", () => undefined);
    const c = await client("frank");
    c.send({ type: "rpc", id: 1, method: "silent", timeout: 300 });
    expect(await c.next("rpc_error")).toMatchObject({
      id: 1,
      code: "TIMEOUT",
      message: "no answer within 300 ms",
    });
    expect(seen).toHaveLength(1);
    await stillOpen(c);
  });

  test("refuses a call over the in-flight limit and a duplicate id, sends neither, and frees the slot", async ({
    client,
    raw,
    gateway,
  }) => {
    const held: Msg[] = [];
    await rawResponder(raw, "held", (msg) => held.push(msg));
    const c = await client("gina");
    for (let id = 1; id <= 16; id++) c.send({ type: "rpc", id, method: "held" });
    await waitUntil(() => held.length === 16, "16 calls at the backend");
    c.send({ type: "rpc", id: 17, method: "held" });
    expect(await c.next("rpc_error")).toMatchObject({ id: 17, code: "TOO_MANY_IN_FLIGHT" });
    c.send({ type: "rpc", id: 3, method: "held" });
    expect(await c.next("rpc_error")).toMatchObject({ id: 3, code: "DUPLICATE_ID" });
    // one answer frees one slot
    const first = held[0]!;
    const request = JSON.parse(new TextDecoder().decode(first.data)) as RpcRequest;
    first.respond(JSON.stringify({ ok: true, data: request.data }));
    expect(await c.next("rpc_result")).toMatchObject({ id: 1 });
    c.send({ type: "rpc", id: 18, method: "held", data: "after" });
    await waitUntil(() => held.length === 17, "the call that took the freed slot");
    expect(held).toHaveLength(17); // 17 and the duplicate never reached the backend
    for (const msg of held.slice(1)) {
      const { data } = JSON.parse(new TextDecoder().decode(msg.data)) as RpcRequest;
      msg.respond(JSON.stringify({ ok: true, data }));
    }
    const ids = [];
    for (let n = 0; n < 16; n++) ids.push((await c.next("rpc_result")).id);
    expect(ids.sort((a, b) => Number(a) - Number(b))).toEqual(
      [...Array(15).keys()].map((i) => i + 2).concat(18),
    );
    // counted by outcome, refusals made before sending included
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
    expect(metrics).toContain('herald_rpc_results_total{result="TOO_MANY_IN_FLIGHT"} 1');
    expect(metrics).toContain('herald_rpc_results_total{result="DUPLICATE_ID"} 1');
    expect(metrics).toContain('herald_rpc_results_total{result="result"} 17');
    await stillOpen(c);
  });
});

describe("client rpc with --rpc-timeout and --max-rpc-in-flight", () => {
  test.override({ gatewayOptions: { rpcTimeout: 250, maxRpcInFlight: 1 } });

  test("waits no longer than --rpc-timeout, whatever the call asks", async ({ client, raw }) => {
    await rawResponder(raw, "slow", () => undefined);
    const c = await client("hank");
    c.send({ type: "rpc", id: 1, method: "slow", timeout: 60_000 });
    expect(await c.next("rpc_error")).toMatchObject({ code: "TIMEOUT", message: "no answer within 250 ms" });
    // the timed-out call let go of its slot
    c.send({ type: "rpc", id: 2, method: "slow" });
    expect(await c.next("rpc_error")).toMatchObject({ id: 2, code: "TIMEOUT" });
  });
});
