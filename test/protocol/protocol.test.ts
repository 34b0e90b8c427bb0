import { readFileSync } from "node:fs";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  errorTableMarkdown,
  rpcErrorTableMarkdown,
  subscribeErrorTableMarkdown,
} from "../../src/protocol/error-table.js";
import {
  AuthReply,
  ClientFrame,
  CloseCode,
  ControlUnsubscribe,
  ERROR_CATALOGUE,
  ErrorCode,
  isRetryableClose,
  isSafeName,
  parseChannel,
  SUBJECT_PREFIX_PATTERN,
  SUBSCRIBE_ERROR_CODES,
  SubscribeReply,
  SubscribeRequest,
  subjectsFor,
  UnsafeNameError,
  userChannel,
} from "../../src/protocol/index.js";

const HOSTILE = [
  "",
  "1.*",
  ">",
  "*",
  "2 q",
  "x\r\nSUB >",
  "a\tb",
  "a.b",
  "ü",
  "a\u0000b",
  "x".repeat(129),
  "a/b",
];

describe("the safe name alphabet", () => {
  it.each(HOSTILE)("refuses %j", (name) => {
    expect(isSafeName(name)).toBe(false);
    expect(() => userChannel(name)).toThrow(UnsafeNameError);
    expect(() => subjectsFor("herald").user(name)).toThrow(UnsafeNameError);
    expect(v.safeParse(AuthReply, { ok: true, user: name }).success).toBe(false);
  });

  it.each(["1", "alice", "user_42", "a-b", "tenant:7", "a@b", "x=y", "a+b", "x".repeat(128)])(
    "accepts %j",
    (name) => {
      expect(isSafeName(name)).toBe(true);
      expect(subjectsFor("herald").user(name)).toBe(`herald.user.${name}`);
    },
  );

  it("checks every channel it turns into a subject", () => {
    const subjects = subjectsFor("acme.prod");
    expect(subjects.ofChannel("user.7")).toBe("acme.prod.user.7");
    expect(subjects.liveOf("channel.news")).toBe("acme.prod.live.channel.news");
    expect(() => subjects.ofChannel("user.7.*")).toThrow(UnsafeNameError);
    expect(() => subjects.ofChannel("admin.7")).toThrow(UnsafeNameError);
    expect(parseChannel("user.7")).toEqual({ kind: "user", name: "7" });
    expect(parseChannel("channel.a.b")).toBeUndefined();
  });

  it("accepts only prefixes of safe tokens", () => {
    expect(SUBJECT_PREFIX_PATTERN.test("herald")).toBe(true);
    expect(SUBJECT_PREFIX_PATTERN.test("acme.prod.herald")).toBe(true);
    for (const bad of ["", ".", "a.", "a..b", "a.*", ">", "a b"])
      expect(SUBJECT_PREFIX_PATTERN.test(bad)).toBe(false);
  });
});

describe("client frames", () => {
  it("parses the documented frames and refuses malformed ones", () => {
    expect(v.safeParse(ClientFrame, { type: "auth", token: "t" }).success).toBe(true);
    expect(
      v.safeParse(ClientFrame, { type: "auth", token: "t", recover: { epoch: "1", since: { "user.1": 4 } } })
        .success,
    ).toBe(true);
    expect(v.safeParse(ClientFrame, { type: "refresh", token: "t" }).success).toBe(true);
    expect(v.safeParse(ClientFrame, { type: "pong" }).success).toBe(true);
    for (const bad of [
      { type: "auth" },
      { type: "auth", token: 1 },
      { type: "auth", token: "" },
      { type: "auth", token: "t", recover: { epoch: "1", since: { "user.1": -1 } } },
      { type: "auth", token: "t", recover: { epoch: "1", since: { "user.1": 1.5 } } },
      { type: "subscribe" },
    ]) {
      expect(v.safeParse(ClientFrame, bad).success).toBe(false);
    }
  });
});

describe("close codes", () => {
  it("retries exactly what reconnecting can fix", () => {
    for (const code of [1001, 1006, 1011, 1012, 1013, 4408, 4410, 4411, 4429])
      expect(isRetryableClose(code)).toBe(true);
    for (const code of [1000, 1009, 4400, 4401, 4403, 4409]) expect(isRetryableClose(code)).toBe(false);
  });

  it("are all documented in docs/protocol.md, with every error code", () => {
    const doc = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");
    // Regenerate with `npm run docs:tables`.
    expect(doc).toContain(errorTableMarkdown());
    expect(doc).toContain(rpcErrorTableMarkdown());
    for (const code of Object.values(CloseCode)) expect(doc).toContain(`| ${code} |`);
    for (const [name, code] of Object.entries(ErrorCode))
      expect(doc).toMatch(new RegExp(`\\| \`${name}\` \\| ${code} \\|`));
  });

  it("advise a retry exactly where the close code allows one", () => {
    for (const [name, entry] of Object.entries(ERROR_CATALOGUE)) {
      const retryable = isRetryableClose(ErrorCode[name as keyof typeof ErrorCode]);
      expect(entry.advice.startsWith("yes"), name).toBe(retryable);
    }
  });
});

describe("subscriptions", () => {
  it("take subscribe and unsubscribe frames with any channel text up to 256 characters", () => {
    for (const channel of ["channel.a", "user.x", "x.*", "", "€".repeat(256)]) {
      expect(v.safeParse(ClientFrame, { type: "subscribe", channel }).success).toBe(true);
      expect(v.safeParse(ClientFrame, { type: "unsubscribe", channel }).success).toBe(true);
    }
    const recover = { epoch: "171", since: 42 };
    expect(v.safeParse(ClientFrame, { type: "subscribe", channel: "channel.a", recover }).success).toBe(true);
    for (const bad of [
      { type: "subscribe", channel: "x".repeat(257) },
      { type: "subscribe", channel: 7 },
      { type: "subscribe", channel: "channel.a", recover: { epoch: "1", since: -1 } },
      { type: "subscribe", channel: "channel.a", recover: { epoch: "1", since: { "channel.a": 1 } } },
      { type: "subscribe", channel: "channel.a", recover: { epoch: "1", since: 2 ** 53 } },
      { type: "unsubscribe" },
    ]) {
      expect(v.safeParse(ClientFrame, bad).success).toBe(false);
    }
  });

  it("name only safe shared channels in what crosses NATS", () => {
    const request = { user: "1", connection: "c", gateway: "g" };
    expect(v.safeParse(SubscribeRequest, { ...request, channel: "channel.room" }).success).toBe(true);
    expect(v.safeParse(ControlUnsubscribe, { user: "1", channel: "channel.room" }).success).toBe(true);
    for (const channel of [
      "user.1",
      "channel.a.b",
      "channel.*",
      "channel.>",
      "room",
      "channel.",
      "channel.a b",
    ]) {
      expect(v.safeParse(SubscribeRequest, { ...request, channel }).success).toBe(false);
      expect(v.safeParse(ControlUnsubscribe, { user: "1", channel }).success).toBe(false);
    }
    for (const user of HOSTILE) {
      expect(v.safeParse(ControlUnsubscribe, { user, channel: "channel.room" }).success).toBe(false);
    }
  });

  it("read the backend's subscribe reply like its auth reply", () => {
    expect(v.parse(SubscribeReply, { ok: true })).toEqual({ ok: true });
    expect(v.parse(SubscribeReply, { ok: true, expiresAt: null })).toEqual({ ok: true });
    expect(v.parse(SubscribeReply, { ok: true, expiresAt: 1764079200000.7 })).toEqual({
      ok: true,
      expiresAt: 1764079200000,
    });
    const refusal = { ok: false, error: { code: "forbidden", message: "no" } };
    expect(v.parse(SubscribeReply, refusal)).toEqual(refusal);
    for (const bad of [
      {},
      { ok: "yes" },
      { ok: true, expiresAt: "soon" },
      { ok: false },
      { ok: true, expiresAt: 9e15 },
    ])
      expect(v.safeParse(SubscribeReply, bad).success).toBe(false);
  });

  it("have subjects of their own", () => {
    const subjects = subjectsFor("acme");
    expect(subjects.subscribe).toBe("acme.subscribe");
    expect(subjects.control("unsubscribe")).toBe("acme.control.unsubscribe");
    expect(subjects.controlAll).toBe("acme.control.>");
  });

  it("document every subscribe error code in docs/protocol.md", () => {
    const doc = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");
    // Regenerate with `npm run docs:tables`.
    expect(doc).toContain(subscribeErrorTableMarkdown());
    for (const code of SUBSCRIBE_ERROR_CODES) expect(doc).toContain(`| \`${code}\` |`);
  });
});
