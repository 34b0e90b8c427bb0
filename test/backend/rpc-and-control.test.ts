import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { describe, expect } from "vitest";
import { RpcRefusal, UnsafeNameError } from "../../src/backend/index.js";
import type { RpcRequest } from "../../src/protocol/index.js";
import { waitUntil } from "../../src/testing/index.js";
import { test } from "./responder-stack.js";

// A nats-server without JetStream; `raw` plays the gateway.
test.override({ natsOptions: {} });

/** The backend SDK's onRpc and disconnect, seen from NATS as a gateway sees them. */
describe("backend SDK: onRpc and disconnect", () => {
  const call = (raw: NatsConnection, method: string, data: unknown, body?: string): Promise<Msg> => {
    const request: RpcRequest = { user: "u1", connection: "c-1", gateway: "g-1", method, data };
    return raw.request(`herald.rpc.${method}`, body ?? JSON.stringify(request), { timeout: 5000 });
  };
  const json = (msg: Msg): unknown => JSON.parse(new TextDecoder().decode(msg.data));

  test("answers what the handler returns, a refusal it throws, and a service error for anything else", async ({
    connectBackend,
    raw,
  }) => {
    const { backend, errors: reported } = await connectBackend({ history: false });
    const seen: unknown[] = [];
    backend.onRpc("calc", async (data, context) => {
      seen.push(context);
      const { op } = data as { op: string };
      if (op === "refuse") throw new RpcRefusal("c".repeat(100), "m".repeat(600));
      if (op === "throw") throw new Error("secret stack");
      if (op === "bigint") return 1n;
      if (op === "nothing") return undefined;
      return { sum: 3 };
    });
    await backend.flush();

    expect(json(await call(raw, "calc", { op: "add" }))).toEqual({ ok: true, data: { sum: 3 } });
    expect(seen[0]).toEqual({ user: "u1", connection: "c-1", gateway: "g-1", method: "calc" });
    expect(json(await call(raw, "calc", { op: "nothing" }))).toEqual({ ok: true });
    // the refusal is cut to the wire's limits, so the gateway takes it
    expect(json(await call(raw, "calc", { op: "refuse" }))).toEqual({
      ok: false,
      error: { code: "c".repeat(64), message: "m".repeat(512) },
    });
    for (const op of ["throw", "bigint"]) {
      const reply = await call(raw, "calc", { op });
      expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("500");
      expect(reply.headers?.get("Nats-Service-Error")).not.toContain("secret");
      expect(reply.data).toHaveLength(0);
    }
    const bad = await call(raw, "calc", null, '{"user":"a.b","method":"calc"}');
    expect(bad.headers?.get("Nats-Service-Error-Code")).toBe("400");
    await waitUntil(() => reported.length === 3, "three reports");
    expect(reported.map((e) => e.code)).toEqual(["HANDLER_FAILED", "INVALID_RESULT", "INVALID_REQUEST"]);
  });

  test("serves a method once, refuses unsafe names, and serves it again after stop()", async ({
    connectBackend,
    raw,
  }) => {
    const { backend } = await connectBackend({ history: false });
    expect(() => backend.onRpc("a.b", () => 1)).toThrow(UnsafeNameError);
    expect(() => backend.onRpc(">", () => 1)).toThrow(UnsafeNameError);
    const first = backend.onRpc("once", () => "first");
    expect(first.subject).toBe("herald.rpc.once");
    expect(first.queue).toBe("herald-rpc");
    expect(() => backend.onRpc("once", () => "second")).toThrow(/already served/);
    await backend.flush();
    expect(json(await call(raw, "once", null))).toEqual({ ok: true, data: "first" });
    await first.stop();
    backend.onRpc("once", () => "second");
    await backend.flush();
    expect(json(await call(raw, "once", null))).toEqual({ ok: true, data: "second" });
  });

  test("publishes <prefix>.control.disconnect, and refuses an unsafe user before sending", async ({
    connectBackend,
    raw,
  }) => {
    const { backend } = await connectBackend({ history: false });
    const got: { subject: string; body: unknown }[] = [];
    raw.subscribe("herald.control.>", {
      callback: (_err, msg) => {
        got.push({ subject: msg.subject, body: json(msg) });
      },
    });
    await raw.flush();
    await expect(backend.disconnect("a.*")).rejects.toBeInstanceOf(UnsafeNameError);
    await backend.disconnect("42");
    await backend.disconnect("43", { reconnect: true, reason: "rights changed" });
    await waitUntil(() => got.length === 2, "two control messages");
    expect(got).toEqual([
      { subject: "herald.control.disconnect", body: { user: "42" } },
      {
        subject: "herald.control.disconnect",
        body: { user: "43", reconnect: true, reason: "rights changed" },
      },
    ]);
  });
});
