import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";
import { type Command, ExampleProcess, runToEnd } from "./example-process.js";

export interface BackendExample {
  /** Prepares the example (e.g. builds it); runs once before the suite. */
  prepare?: () => Promise<void>;
  /** Cleans up what `prepare` made. */
  cleanup?: () => Promise<void>;
  responder: () => Command;
  /** Answers `<prefix>.rpc.>`: the method `time`, and a refusal for any other. */
  rpcResponder: () => Command;
  publish: (user: string, message: string) => Command;
  /** `notify <user> <message> [key]`: a notification in the user's inbox. */
  notify: (args: readonly string[]) => Command;
  /** `inbox unread <user>...`, `inbox mark <user> <state> <id>...`, `inbox mark-up-to <user> <state> <id>`. */
  inbox: (args: readonly string[]) => Command;
}

/** What an auth responder prints once its subscription is in place. */
const SERVING = /answering \S+\.auth in queue group herald-auth/;
/** What an rpc responder prints once its subscription is in place. */
const SERVING_RPC = /answering herald\.rpc\.> in queue group herald-rpc/;

/**
 * An example backend from examples/, run as a team would run it, against a real nats-server with
 * JetStream and real gateways: its auth responder answers a real WebSocket client's auth, and its
 * publisher reaches that client. The same scenarios for every language.
 */
export function describeBackendExample(name: string, example: BackendExample): void {
  describe(`${name} backend example`, () => {
    let nats: NatsServer;
    let stored: RunningGateway;
    let live: RunningGateway;
    let observer: NatsConnection;
    const responders: ExampleProcess[] = [];
    const clients: TestClient[] = [];
    const env = (prefix = "herald") => ({ NATS_URL: nats.url, HERALD_PREFIX: prefix });

    beforeAll(async () => {
      await example.prepare?.();
      nats = await startNats({ jetstream: true });
      observer = await connect({ servers: nats.url });
      // history on (the stream stores herald.user.>) and, under another prefix, history off
      stored = await startTestGateway(nats, {
        history: true,
        historyStorage: "memory",
        inbox: true,
        inboxStorage: "memory",
      });
      live = await startTestGateway(nats, { prefix: "live", history: false });
      for (const prefix of ["herald", "live"]) {
        responders.push(await ExampleProcess.start(example.responder(), env(prefix), SERVING));
      }
      responders.push(await ExampleProcess.start(example.rpcResponder(), env(), SERVING_RPC));
    }, 180_000);
    afterEach(() => {
      for (const c of clients.splice(0)) c.close();
    });
    afterAll(async () => {
      await Promise.all(responders.map((r) => r.stop()));
      await stored?.close();
      await live?.close();
      await observer?.close();
      await nats?.stop();
      await example.cleanup?.();
    });

    async function ready(url: string, token: string): Promise<TestClient> {
      const client = await TestClient.ready(url, token);
      clients.push(client);
      return client;
    }

    const publish = (user: string, message: string, prefix = "herald") =>
      runToEnd(example.publish(user, message), env(prefix));
    const notify = (...args: string[]) => runToEnd(example.notify(args), env());
    const inbox = (...args: string[]) => runToEnd(example.inbox(args), env());

    it("answers the demo token tok-1: ready as user 1", async () => {
      const client = await ready(stored.url, "tok-1");
      expect(client.frames[0]).toMatchObject({ type: "ready", user: "1", channels: ["user.1"] });
    });

    it("refuses any other token: AUTH_REFUSED, close 4401", async () => {
      const client = await TestClient.open(stored.url);
      clients.push(client);
      client.send({ type: "auth", token: "tok-2" });
      expect(await client.next("error")).toMatchObject({ code: "AUTH_REFUSED", reason: "invalid_token" });
      expect((await client.waitClose()).code).toBe(CloseCode.AuthRefused);
    });

    it("publish 1 hello! is stored and reaches user 1's socket", async () => {
      const client = await ready(stored.url, "tok-1");
      const result = await publish("1", "hello!");
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const seq = Number(/stored as seq (\d+) in stream HERALD/.exec(result.stdout)?.[1]);
      expect(seq).toBeGreaterThan(0);
      const [message] = await client.waitForMessages(1);
      expect(message).toMatchObject({ channel: "user.1", data: "hello!", seq });
    });

    it("publishes JSON that arrives as JSON", async () => {
      const client = await ready(stored.url, "tok-1");
      const result = await publish("1", '{"order":42}');
      expect(result.code).toBe(0);
      const [message] = await client.waitForMessages(1);
      expect(message).toMatchObject({ channel: "user.1", data: { order: 42 } });
    });

    it("without a stream for the subject, says so and publishes live", async () => {
      const client = await ready(live.url, "tok-1");
      const result = await publish("1", "hello!", "live");
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/no stream stores live\.user\.1 .*published live, not stored/);
      const [message] = await client.waitForMessages(1);
      expect(message).toMatchObject({ channel: "user.1", data: "hello!" });
      expect(message).not.toHaveProperty("seq");
    });

    it.each(["1.*", ">", "1 2", "a\r\nPUB herald.user.2 1", "", "x".repeat(129)])(
      "refuses the unsafe user id %j: a message on stderr, a non-zero exit, nothing sent",
      async (user) => {
        const seen: string[] = [];
        const sub: Subscription = observer.subscribe("herald.user.>", {
          callback: (_err, msg) => {
            seen.push(msg.subject);
          },
        });
        await observer.flush();
        try {
          const refused = await publish(user, "stolen");
          expect(refused.code).not.toBe(0);
          expect(refused.stderr).toMatch(/unsafe user id/);
          expect(refused.stdout).toBe("");
          // a later safe publish arrives, and it is the only thing that did
          expect((await publish("2", "fine")).code).toBe(0);
          await expect.poll(() => seen).toEqual(["herald.user.2"]);
        } finally {
          sub.unsubscribe();
        }
      },
    );

    it("answers a client's rpc time with the server's time and the caller", async () => {
      const client = await ready(stored.url, "tok-1");
      const before = Date.now();
      client.send({ type: "rpc", id: 1, method: "time" });
      const result = await client.next("rpc_result");
      expect(result).toMatchObject({ id: 1, data: { user: "1" } });
      const now = (result.data as { now: number }).now;
      expect(now).toBeGreaterThanOrEqual(before - 1000); // the example's clock is this machine's
      expect(now).toBeLessThanOrEqual(Date.now() + 1000);
    });

    it("refuses a method it does not know: REFUSED with its code, the connection stays", async () => {
      const client = await ready(stored.url, "tok-1");
      client.send({ type: "rpc", id: 2, method: "orders-delete", data: { id: 7 } });
      expect(await client.next("rpc_error")).toMatchObject({
        id: 2,
        code: "REFUSED",
        reason: "unknown_method",
        message: "no such method",
      });
      client.send({ type: "ping" });
      expect(await client.next("pong")).toMatchObject({ type: "pong" });
    });

    it("answers a request that is not a call with a 400 service error", async () => {
      const reply = await observer.request("herald.rpc.time", "not json", { timeout: 5000 });
      expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("400");
      expect(reply.data).toHaveLength(0);
    });

    it("grants user 1 the room channel.lobby: subscribed, then the room's messages", async () => {
      const client = await ready(stored.url, "tok-1");
      client.send({ type: "subscribe", channel: "channel.lobby" });
      expect(await client.next("subscribed")).toMatchObject({ channel: "channel.lobby" });
      observer.publish("herald.channel.lobby", JSON.stringify({ topic: "welcome" }));
      const [message] = await client.waitForMessages(1);
      expect(message).toMatchObject({ channel: "channel.lobby", data: { topic: "welcome" } });
    });

    it("refuses any other room: a subscribe_error with its reason, and the connection stays", async () => {
      const client = await ready(stored.url, "tok-1");
      client.send({ type: "subscribe", channel: "channel.vault" });
      expect(await client.next("subscribe_error")).toMatchObject({
        channel: "channel.vault",
        code: "SUBSCRIBE_REFUSED",
        reason: "forbidden",
      });
      client.send({ type: "ping" });
      await client.next("pong");
    });

    it("answers a malformed subscribe request with a service error", async () => {
      const reply = await observer.request("herald.subscribe", JSON.stringify({ user: 1 }), {
        timeout: 5000,
      });
      expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("400");
      expect(reply.data.length).toBe(0);
    });

    it("notify stores a notification that reaches the user's socket, once per key", async () => {
      const client = await ready(stored.url, "tok-1");
      await client.next("inbox");
      const result = await notify("1", '{"order":42}', "order-42");
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const id = Number(/^stored as notification (\d+)\n$/.exec(result.stdout)?.[1]);
      expect(await client.next("notification")).toMatchObject({ id, data: { order: 42 } });
      expect((await notify("1", '{"order":42}', "order-42")).stdout).toBe(
        `stored as notification ${id} (duplicate)\n`,
      );
      expect((await notify("1.*", "x")).code).toBe(2);
    });

    it("inbox counts unread and marks, and the user's socket gets the new count", async () => {
      const ids = [];
      for (const text of ["one", "two", "three"]) {
        const stored = await notify("inbox-user", text);
        ids.push(Number(/(\d+)/.exec(stored.stdout)?.[1]));
      }
      const unread = await inbox("unread", "inbox-user", "nobody");
      expect(unread.stderr).toBe("");
      expect(unread.stdout).toBe("inbox-user: 3 unread\nnobody: 0 unread\n");
      const [first, second, third] = ids.map(String) as [string, string, string];
      expect((await inbox("mark", "inbox-user", "read", first)).code).toBe(0);
      expect((await inbox("unread", "inbox-user")).stdout).toBe("inbox-user: 2 unread\n");
      expect((await inbox("mark-up-to", "inbox-user", "read", third)).stdout).toBe("marked read\n");
      expect((await inbox("unread", "inbox-user")).stdout).toBe("inbox-user: 0 unread\n");
      // An unread mark wants ids: the gateway refuses "unread up to", and the example says so.
      const refused = await inbox("mark-up-to", "inbox-user", "unread", second);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/inbox\.mark/);
      expect((await inbox("unread", "a.b")).code).toBe(2);
      const elsewhere = await runToEnd(example.inbox(["unread", "x"]), env("live"));
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.stderr).toMatch(/--inbox true/);
    });

    it("stops its auth and rpc responders cleanly on SIGTERM", async () => {
      const codes = await Promise.all(responders.map((r) => r.stop()));
      expect(codes).toEqual([0, 0, 0]);
    });
  });
}
