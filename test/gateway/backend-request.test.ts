import { headers, type Msg, type MsgHdrs } from "@nats-io/nats-core";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AuthClient } from "../../src/gateway/backend/auth-client.js";
import type { BackendLine } from "../../src/gateway/backend/backend-request.js";
import { RpcRelay } from "../../src/gateway/backend/rpc-relay.js";
import { SubscribeAuthorizer } from "../../src/gateway/backend/subscribe-authorizer.js";
import { GatewayMetrics } from "../../src/gateway/metrics.js";
import type { RequestReply } from "../../src/nats/requester.js";
import { SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER, subjectsFor } from "../../src/protocol/index.js";

/**
 * The one reading of backend replies, without a network: a line whose every request gets the same
 * answer, asked by auth, subscribe and rpc alike. What each kind tells its client is compared in one
 * table, so a reply cannot mean one thing to auth and another to rpc by accident. The same replies
 * from a real backend over a real nats-server: auth-reply-edges, subscribe and rpc tests.
 */

const encoder = new TextEncoder();

/** A reply as the request mux hands it over: the only parts read are `data` and `headers`. */
function reply(body: string, h?: MsgHdrs): RequestReply {
  const msg = { subject: "_INBOX.x.1", sid: 1, data: encoder.encode(body), headers: h } as unknown as Msg;
  return { kind: "reply", msg };
}

function serviceError(description: string, code?: string): RequestReply {
  const h = headers();
  h.set(SERVICE_ERROR_HEADER, description);
  if (code !== undefined) h.set(SERVICE_ERROR_CODE_HEADER, code);
  return reply("", h);
}

interface Asked {
  auth: { kind: string; message?: string };
  subscribe: { kind: string; message?: string };
  rpc: { code?: string; message?: string };
  /** Round trips timed in `herald_auth_request_seconds` and `herald_rpc_request_seconds`. */
  timed: number;
  logs: { level: number; msg: string }[];
  sent: number;
}

/** Auth, subscribe and rpc each asking once over a line that gives `answer` (or is disconnected). */
async function askAll(
  answer: RequestReply | "disconnected",
  options: { data?: unknown; maxPayload?: number } = {},
): Promise<Asked> {
  const logs: { level: number; msg: string }[] = [];
  let sent = 0;
  const line: BackendLine = {
    requests: {
      request: async () => {
        sent++;
        return answer === "disconnected" ? { kind: "failed", message: "unreachable" } : answer;
      },
    },
    isConnected: () => answer !== "disconnected",
    maxPayload: () => options.maxPayload,
    logger: pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
  };
  const metrics = new GatewayMetrics(false);
  const auth = new AuthClient({
    line,
    subject: "herald.auth",
    timeoutMs: 1000,
    concurrency: 1,
    queueLimit: 1,
    metrics,
  });
  const subscribe = new SubscribeAuthorizer({ line, subject: "herald.subscribe", timeoutMs: 1000 });
  const rpc = new RpcRelay({
    line,
    subjects: subjectsFor("herald"),
    metrics,
    gatewayId: "gw",
    timeoutMs: 1000,
    maxReplyBytes: 200,
  });
  const connection = "c1";
  const authed = await auth.authenticate({
    kind: "connect",
    token: "t",
    connection,
    gateway: "gw",
    remoteAddress: "198.51.100.1",
    headers: {},
  });
  const authorized = await subscribe.authorize({
    user: "ann",
    connection,
    gateway: "gw",
    channel: "channel.x",
  });
  const frame = await rpc.answer(
    { user: "ann", connection },
    { type: "rpc", id: 1, method: "m", data: options.data ?? null },
  );
  const called = JSON.parse(frame.payload.toString()) as { type: string; code?: string; message?: string };
  const timed = async (histogram: GatewayMetrics["authLatency"]) =>
    (await histogram.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
  return {
    auth: authed.kind === "accepted" ? { kind: "accepted" } : (authed as Asked["auth"]),
    subscribe: authorized.kind === "granted" ? { kind: "granted" } : (authorized as Asked["subscribe"]),
    rpc: called.type === "rpc_result" ? {} : { code: called.code, message: called.message },
    timed: (await timed(metrics.authLatency)) + (await timed(metrics.rpcLatency)),
    logs,
    sent,
  };
}

describe("one reading of backend replies", () => {
  describe("a service error, whatever its code, is 'the backend could not answer now'", () => {
    const cases: [string, RequestReply, string][] = [
      ["400 (the SDK: invalid request)", serviceError("invalid auth request: not JSON", "400"), '("400")'],
      ["500 (the SDK: handler failed)", serviceError("auth handler failed", "500"), '("500")'],
      ["503 (a micro service's own)", serviceError("overloaded", "503"), '("503")'],
      ["no code header", serviceError("busy"), 'answer: "busy"'],
      ["a status with an error code and no service-error header", reply("", headers(500, "oops")), '("500")'],
    ];
    it.each(cases)("%s", async (_, answer, inRpcMessage) => {
      const asked = await askAll(answer);
      const unavailable = { kind: "unavailable", message: "the backend could not answer" };
      expect(asked.auth).toEqual(unavailable);
      expect(asked.subscribe).toEqual(unavailable);
      expect(asked.rpc.code).toBe("BACKEND_ERROR");
      expect(asked.rpc.message).toContain(inRpcMessage);
      // logged once per request, the description quoted briefly
      const warned = asked.logs.filter((l) => l.msg.includes("service error"));
      expect(warned).toHaveLength(3);
    });

    it("quotes a long description briefly, in the log and to the rpc caller", async () => {
      const asked = await askAll(serviceError(`overloaded ${"y".repeat(300)}`, "503"));
      expect(String(asked.rpc.message).length).toBeLessThan(140);
      for (const line of asked.logs) expect(JSON.stringify(line).length).toBeLessThan(400);
    });
  });

  it("tells a reply apart from a service error only by the headers, not by an empty body", async () => {
    const asked = await askAll(reply(""));
    expect(asked.auth).toEqual({ kind: "invalid_reply", message: "the backend's auth reply is not JSON" });
    expect(asked.subscribe).toEqual({
      kind: "invalid_reply",
      message: "the backend's subscribe reply is not JSON",
    });
    expect(asked.rpc).toEqual({ code: "BACKEND_INVALID_REPLY", message: "the backend's answer is not JSON" });
  });

  const failures: [string, RequestReply | "disconnected", Asked["auth"]["kind"], string, string][] = [
    ["NATS away", "disconnected", "unavailable", "NATS is not connected", "UNAVAILABLE"],
    ["no responders", { kind: "no_responders" }, "unavailable", "no backend is answering", "NO_RESPONDERS"],
    ["no reply in time", { kind: "timeout" }, "unavailable", "did not answer within 1000 ms", "TIMEOUT"],
    [
      "not sent",
      { kind: "failed", message: "gateway closing" },
      "unavailable",
      "failed: gateway closing",
      "UNAVAILABLE",
    ],
    ["not JSON", reply("{oops"), "invalid_reply", "reply is not JSON", "BACKEND_INVALID_REPLY"],
    [
      "breaking the schema",
      reply('{"ok":"yes"}'),
      "invalid_reply",
      "reply is invalid: ",
      "BACKEND_INVALID_REPLY",
    ],
  ];
  it.each(failures)(
    "%s: auth and subscribe %s, rpc its own code",
    async (_, answer, kind, message, rpcCode) => {
      const asked = await askAll(answer);
      expect(asked.auth.kind).toBe(kind);
      expect(asked.auth.message).toContain(message);
      expect(asked.subscribe.kind).toBe(kind);
      expect(asked.rpc.code).toBe(rpcCode);
      expect(asked.timed).toBe(2); // auth and rpc round trips, failed or not
    },
  );

  it("sends nothing while NATS is away", async () => {
    expect((await askAll("disconnected")).sent).toBe(0);
  });

  it("logs no responders for auth and subscribe, never for rpc (a client names any method)", async () => {
    const asked = await askAll({ kind: "no_responders" });
    expect(asked.logs.map((l) => l.msg)).toEqual([
      "no backend is answering auth requests",
      "no backend is answering subscribe requests",
    ]);
  });

  it("reads the replies of each kind with its own schema and bound", async () => {
    const accepted = await askAll(reply('{"ok":true,"user":"ann"}'));
    expect(accepted.auth).toEqual({ kind: "accepted" });
    expect(accepted.subscribe).toEqual({ kind: "granted" });
    expect(accepted.rpc).toEqual({});
    const large = await askAll(reply(JSON.stringify({ ok: true, user: "ann", data: "z".repeat(300) })));
    expect(large.auth).toEqual({ kind: "accepted" }); // no bound but NATS's
    expect(large.rpc).toEqual({
      code: "BACKEND_INVALID_REPLY",
      message: "the backend's answer is over 200 bytes",
    });
  });

  it("does not send a request it cannot encode or NATS would refuse, and tells the caller why", async () => {
    // JSON.parse takes nesting that JSON.stringify cannot give back (a stack overflow)
    const deep: unknown = JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    const nested = await askAll(reply('{"ok":true}'), { data: deep });
    expect(nested.rpc).toEqual({
      code: "PAYLOAD_TOO_LARGE",
      message: "data is nested too deeply to forward",
    });
    const over = await askAll(reply('{"ok":true}'), { maxPayload: 50 });
    expect(over.rpc).toEqual({
      code: "PAYLOAD_TOO_LARGE",
      message: "the request is over the NATS max_payload of 50 bytes",
    });
    expect(over.auth).toEqual({
      kind: "unavailable",
      message: "auth request is over the NATS max_payload of 50 bytes",
    });
  });
});
