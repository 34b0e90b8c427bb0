import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { parseServerFrame } from "../../src/client/server-frame.js";
import { ServerFrame } from "../../src/protocol/server-frames.js";

const ready = {
  type: "ready",
  user: "1",
  connection: "c",
  gateway: "g",
  channels: ["user.1"],
  heartbeat: 25000,
};

/** Frames both the client's guards and the protocol schema must accept. */
const VALID: unknown[] = [
  ready,
  { ...ready, expiresAt: 1_700_000_000_000, epoch: "171", recovered: false },
  { ...ready, epoch: "171", positions: { "user.1": 118, "channel.news": 0 } },
  { ...ready, positions: {} },
  // like the schema's v.record, an (empty) array passes
  { ...ready, positions: [] },
  { ...ready, maxFrameBytes: 16384 },
  { type: "message", channel: "user.1", data: { a: 1 } },
  { type: "message", channel: "user.1", data: "text", seq: 5, prev: 0 },
  { type: "message", channel: "channel.news", data: null, seq: 5 },
  { type: "error", code: "AUTH_REFUSED", message: "refused", reason: "expired" },
  { type: "token_expiring", expiresAt: 5 },
  { type: "refreshed" },
  { type: "refreshed", expiresAt: 5 },
  { type: "ping" },
  { type: "pong" },
  { type: "rpc_result", id: 0, data: null },
  { type: "rpc_result", id: 7, data: { a: [1] } },
  { type: "rpc_error", id: 7, code: "TIMEOUT", message: "no answer" },
  { type: "rpc_error", id: 7, code: "REFUSED", message: "no", reason: "not_found" },
  { ...ready, presence: ["channel.room"] },
  { type: "presence", channel: "channel.room", count: 0, members: [] },
  {
    type: "presence",
    channel: "channel.room",
    count: 3,
    members: [{ user: "1", connections: 2, info: { name: "Ann" } }],
    truncated: true,
  },
  { type: "presence_error", channel: "channel.x", code: "NOT_GRANTED", message: "no" },
  { type: "join", channel: "channel.room", user: "1" },
  { type: "join", channel: "channel.room", user: "1", info: { name: "Ann" } },
  { type: "leave", channel: "channel.room", user: "1" },
  { type: "subscribed", channel: "channel.room" },
  { type: "subscribed", channel: "channel.room", position: 118, recovered: true },
  { type: "subscribe_error", channel: "channel.x", code: "SUBSCRIBE_REFUSED", message: "no", reason: "nope" },
  { type: "subscribe_error", channel: "channel.x", code: "TOO_MANY_REQUESTS", message: "later" },
  { type: "unsubscribed", channel: "channel.room" },
  { type: "unsubscribed", channel: "channel.room", reason: "removed" },
  { type: "subscribed", channel: "channel.room", position: 7, presence: true },
];

/** Frames both must refuse. */
const INVALID: unknown[] = [
  null,
  42,
  "ready",
  [],
  {},
  { type: "nope" },
  { type: "constructor" },
  { ...ready, heartbeat: "25000" },
  { ...ready, heartbeat: 0 },
  { type: "message", channel: "user.1", seq: -1 },
  { type: "message", channel: "user.1", seq: 1.5 },
  { type: "message", channel: "user.1", seq: 2, prev: -1 },
  { ...ready, channels: "user.1" },
  { ...ready, channels: [1] },
  { ...ready, user: undefined },
  { ...ready, recovered: "yes" },
  { ...ready, epoch: 7 },
  { ...ready, positions: { "user.1": "118" } },
  { ...ready, positions: 118 },
  { type: "message", data: 1 },
  { type: "message", channel: "user.1", seq: "5" },
  { type: "message", channel: "user.1", prev: "4" },
  { type: "error", code: "AUTH_REFUSED" },
  { type: "error", code: 4401, message: "x" },
  { type: "token_expiring" },
  { type: "refreshed", expiresAt: "soon" },
  { ...ready, maxFrameBytes: 0 },
  { ...ready, maxFrameBytes: 1.5 },
  { type: "rpc_result", data: 1 },
  { type: "rpc_result", id: -1, data: 1 },
  { type: "rpc_result", id: "7", data: 1 },
  { type: "rpc_error", id: 7, code: "TIMEOUT" },
  { type: "rpc_error", id: 7, message: "m" },
  { type: "rpc_error", id: 7, code: "TIMEOUT", message: "m", reason: 1 },
  { ...ready, presence: "channel.room" },
  { type: "presence", channel: "channel.room", count: 1 },
  { type: "presence", channel: "channel.room", members: [] },
  { type: "presence_error", channel: "channel.room", code: "NOT_GRANTED" },
  { type: "join", channel: "channel.room" },
  { type: "leave", user: "1" },
  { type: "subscribed" },
  { type: "subscribed", channel: "channel.room", position: -1 },
  { type: "subscribed", channel: "channel.room", recovered: "yes" },
  { type: "subscribe_error", channel: "channel.x", message: "no code" },
  { type: "subscribe_error", code: "SUBSCRIBE_REFUSED", message: "no channel" },
  { type: "unsubscribed", channel: 5 },
  { type: "unsubscribed", channel: "channel.room", reason: 1 },
  { type: "subscribed", channel: "channel.room", presence: "yes" },
];

describe("parseServerFrame (hand-written guards for the browser bundle)", () => {
  it.each(VALID.map((frame) => [JSON.stringify(frame), frame]))(
    "accepts %s like the schema",
    (text, frame) => {
      expect(v.safeParse(ServerFrame, frame).success).toBe(true);
      expect(parseServerFrame(text)).toEqual(frame);
    },
  );

  it.each(INVALID.map((frame) => [JSON.stringify(frame) ?? "undefined", frame]))(
    "refuses %s like the schema",
    (text, frame) => {
      expect(v.safeParse(ServerFrame, frame).success).toBe(false);
      expect(parseServerFrame(text)).toBeUndefined();
    },
  );

  it("refuses what is not JSON text", () => {
    expect(parseServerFrame("{not json")).toBeUndefined();
    expect(parseServerFrame(new Uint8Array([123, 125]))).toBeUndefined();
    expect(parseServerFrame(undefined)).toBeUndefined();
  });

  it.each(["error", "rpc_error"])(
    "passes %s codes the schema does not know yet, so a newer gateway's codes reach the app",
    (type) => {
      const frame = { type, id: 1, code: "SOMETHING_NEW", message: "m" };
      expect(v.safeParse(ServerFrame, frame).success).toBe(false);
      expect(parseServerFrame(JSON.stringify(frame))).toEqual(frame);
    },
  );

  it("passes error codes the schema does not know yet, so a newer gateway's codes reach the app", () => {
    for (const frame of [
      { type: "error", code: "SOMETHING_NEW", message: "m" },
      { type: "subscribe_error", channel: "channel.x", code: "SOMETHING_NEW", message: "m" },
      { type: "unsubscribed", channel: "channel.x", reason: "something_new" },
    ]) {
      expect(v.safeParse(ServerFrame, frame).success).toBe(false);
      expect(parseServerFrame(JSON.stringify(frame))).toEqual(frame);
    }
  });
});
