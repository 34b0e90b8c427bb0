import type { Msg } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import type { TestClient } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

/**
 * Hostile rpc frames against a real gateway and nats-server: a frame outside the schema closes only
 * its own socket (INVALID_FRAME, 4400, a fixed close reason) and never reaches NATS; hostile data
 * within the schema is forwarded as data, or refused as a call, and the connection stays.
 */
describe("hostile rpc frames", () => {
  /** Everything the gateway publishes under herald.rpc. and herald.user. while `run` runs. */
  async function published(natsUrl: string, run: () => Promise<void>): Promise<Msg[]> {
    const nc = await connect({ servers: natsUrl });
    const seen: Msg[] = [];
    for (const subject of ["herald.rpc.>", "herald.user.>", "herald.control.>"])
      nc.subscribe(subject, { callback: (_err, msg) => void seen.push(msg) });
    await nc.flush();
    try {
      await run();
      await nc.flush();
    } finally {
      await nc.close();
    }
    return seen;
  }

  async function refusedAsInvalid(c: TestClient): Promise<void> {
    const error = await c.next("error");
    expect(error).toMatchObject({ code: "INVALID_FRAME" });
    expect(String(error.message).length).toBeLessThan(300);
    expect(await c.waitClose()).toEqual({ code: CloseCode.InvalidFrame, reason: "INVALID_FRAME" });
  }

  const BAD_FRAMES: [string, Record<string, unknown>][] = [
    ["a method with a dot", { method: "a.b" }],
    ["a wildcard method", { method: ">" }],
    ["a star method", { method: "*" }],
    ["a method that injects a protocol line", { method: "x\r\nPUB herald.user.victim 5\r\nhello" }],
    ["an empty method", { method: "" }],
    ["a method of 129 characters", { method: "m".repeat(129) }],
    ["a non-ASCII method", { method: "café" }],
    ["a numeric method", { method: 42 }],
    ["a negative id", { id: -1 }],
    ["a fractional id", { id: 1.5 }],
    ["an id past 2^53", { id: 2 ** 53 + 2 }],
    ["a string id", { id: "1" }],
    ["no id", { id: undefined }],
    ["a timeout of 0", { timeout: 0 }],
    ["a timeout over 600000", { timeout: 600_001 }],
  ];

  test.for(BAD_FRAMES)(
    "closes 4400 on %s, and nothing reaches NATS",
    async ([, fields], { client, nats }) => {
      const seen = await published(nats.url, async () => {
        const c = await client("mallory");
        c.send({ type: "rpc", id: 1, method: "ok", data: null, ...fields });
        await refusedAsInvalid(c);
      });
      expect(seen.map((m) => m.subject)).toEqual([]);
    },
  );

  test("answers rpc before auth with NOT_AUTHENTICATED and sends nothing", async ({ socket, nats }) => {
    const seen = await published(nats.url, async () => {
      const c = await socket();
      c.send({ type: "rpc", id: 1, method: "time" });
      expect(await c.next("error")).toMatchObject({ code: "NOT_AUTHENTICATED" });
      expect((await c.waitClose()).code).toBe(CloseCode.NotAuthenticated);
    });
    expect(seen).toEqual([]);
  });

  test("forwards hostile data as data, refuses what cannot be forwarded, and stays open", async ({
    client,
    nats,
  }) => {
    const nc = await connect({ servers: nats.url });
    const received: unknown[] = [];
    nc.subscribe("herald.rpc.echo", {
      callback: (_err, msg) => {
        const { data } = msg.json<{ data: unknown }>();
        received.push(data);
        msg.respond(JSON.stringify({ ok: true, data }));
      },
    });
    await nc.flush();
    try {
      const c = await client("trudy");
      const hostile = [
        JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
        "x\r\nPUB herald.user.victim 5\r\nhello",
        "\ud800",
        "€".repeat(3000),
      ];
      for (const [i, data] of hostile.entries()) c.send({ type: "rpc", id: i, method: "echo", data });
      for (const [i, data] of hostile.entries()) {
        const result = await c.next("rpc_result");
        expect(result.id).toBe(i);
        expect(JSON.stringify(result.data)).toBe(JSON.stringify(data));
      }
      expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
      expect(received).toHaveLength(hostile.length);
      c.send({ type: "ping" });
      await c.next("pong");
      expect(c.closed).toBeUndefined();
    } finally {
      await nc.close();
    }
  });

  describe("with frames up to 256 KiB", () => {
    test.override({ gatewayOptions: { maxFrameBytes: 262_144 } });

    test("refuses data nested too deeply to forward as a call, and stays open", async ({ client, nats }) => {
      const seen = await published(nats.url, async () => {
        const c = await client("victor");
        // JSON.parse takes nesting that JSON.stringify cannot give back (a stack overflow)
        const depth = 100_000;
        c.send(`{"type":"rpc","id":9,"method":"echo","data":${"[".repeat(depth)}${"]".repeat(depth)}}`);
        expect(await c.next("rpc_error")).toMatchObject({ id: 9, code: "PAYLOAD_TOO_LARGE" });
        c.send({ type: "ping" });
        await c.next("pong");
        expect(c.closed).toBeUndefined();
      });
      expect(seen).toEqual([]);
    });
  });
});
