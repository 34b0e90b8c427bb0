import type { Subscription } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect } from "vitest";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import type { NatsServer } from "../../src/testing/index.js";
import { stackTest } from "../fixtures.js";
import { type Command, ExampleProcess, type Finished, runToEnd } from "./example-process.js";

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
  /** Where the example's programs find NATS and which prefix they serve. */
  const envFor = (nats: NatsServer, prefix = "herald") => ({ NATS_URL: nats.url, HERALD_PREFIX: prefix });

  /**
   * The example's responders, as a team runs them, on the file's nats-server (with JetStream) and
   * two gateways: history on (the stream stores herald.user.>) and, under another prefix, history
   * off. They last the whole file: its last test stops the responders.
   */
  const test = stackTest.extend<{
    scene: { stored: RunningGateway; live: RunningGateway; responders: ExampleProcess[] };
    /** Runs the example's publisher to its end. */
    publish: (user: string, message: string, prefix?: string) => Promise<Finished>;
    /** Runs the example's notify (`<user> <message> [key]`) to its end. */
    notify: (...args: string[]) => Promise<Finished>;
    /** Runs the example's inbox (`unread <user>...`, `mark …`, `mark-up-to …`) to its end. */
    inbox: (...args: string[]) => Promise<Finished>;
  }>({
    scene: [
      async ({ nats, launchForFile }, use) => {
        const stored = await launchForFile.gateway(nats, {
          history: true,
          historyStorage: "memory",
          inbox: true,
          inboxStorage: "memory",
        });
        const live = await launchForFile.gateway(nats, { prefix: "live", history: false });
        const responders: ExampleProcess[] = [];
        const run = async (command: Command, prefix: string, serving: RegExp) => {
          const started = await ExampleProcess.start(command, envFor(nats, prefix), serving);
          responders.push(launchForFile.own(started, (responder) => responder.stop()));
        };
        for (const prefix of ["herald", "live"]) await run(example.responder(), prefix, SERVING);
        await run(example.rpcResponder(), "herald", SERVING_RPC);
        await use({ stored, live, responders });
      },
      { scope: "file" },
    ],
    publish: async ({ nats }, use) =>
      use((user, message, prefix) => runToEnd(example.publish(user, message), envFor(nats, prefix))),
    notify: async ({ nats }, use) => use((...args) => runToEnd(example.notify(args), envFor(nats, "herald"))),
    inbox: async ({ nats }, use) => use((...args) => runToEnd(example.inbox(args), envFor(nats, "herald"))),
  });

  describe(`${name} backend example`, () => {
    // Building the example (Go) is no stack: it runs once before the suite, and is removed after it.
    beforeAll(async () => {
      await example.prepare?.();
    }, 180_000);
    afterAll(async () => {
      await example.cleanup?.();
    });

    test("answers the demo token tok-1: ready as user 1", async ({ scene: { stored }, launch }) => {
      const client = await launch.client(stored, "tok-1");
      expect(client.frames[0]).toMatchObject({ type: "ready", user: "1", channels: ["user.1"] });
    });

    test("refuses any other token: AUTH_REFUSED, close 4401", async ({ scene: { stored }, launch }) => {
      const client = await launch.socket(stored);
      client.send({ type: "auth", token: "tok-2" });
      expect(await client.next("error")).toMatchObject({ code: "AUTH_REFUSED", reason: "invalid_token" });
      expect((await client.waitClose()).code).toBe(CloseCode.AuthRefused);
    });

    test("publish 1 hello! is stored and reaches user 1's socket", async ({
      scene: { stored },
      launch,
      publish,
    }) => {
      const client = await launch.client(stored, "tok-1");
      const result = await publish("1", "hello!");
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const seq = Number(/stored as seq (\d+) in stream HERALD/.exec(result.stdout)?.[1]);
      expect(seq).toBeGreaterThan(0);
      const [message] = await client.waitForMessages(1);
      expect(message).toMatchObject({ channel: "user.1", data: "hello!", seq });
    });

    test("publishes JSON that arrives as JSON", async ({ scene: { stored }, launch, publish }) => {
      const client = await launch.client(stored, "tok-1");
      const result = await publish("1", '{"order":42}');
      expect(result.code).toBe(0);
      const [message] = await client.waitForMessages(1);
      expect(message).toMatchObject({ channel: "user.1", data: { order: 42 } });
    });

    test("without a stream for the subject, says so and publishes live", async ({
      scene: { live },
      launch,
      publish,
    }) => {
      const client = await launch.client(live, "tok-1");
      const result = await publish("1", "hello!", "live");
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/no stream stores live\.user\.1 .*published live, not stored/);
      const [message] = await client.waitForMessages(1);
      expect(message).toMatchObject({ channel: "user.1", data: "hello!" });
      expect(message).not.toHaveProperty("seq");
    });

    test.for(["1.*", ">", "1 2", "a\r\nPUB herald.user.2 1", "", "x".repeat(129)])(
      "refuses the unsafe user id %j: a message on stderr, a non-zero exit, nothing sent",
      async (user, { scene, raw: observer, publish }) => {
        void scene; // the responders are up
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

    test("answers a client's rpc time with the server's time and the caller", async ({
      scene: { stored },
      launch,
    }) => {
      const client = await launch.client(stored, "tok-1");
      const before = Date.now();
      client.send({ type: "rpc", id: 1, method: "time" });
      const result = await client.next("rpc_result");
      expect(result).toMatchObject({ id: 1, data: { user: "1" } });
      const now = (result.data as { now: number }).now;
      expect(now).toBeGreaterThanOrEqual(before - 1000); // the example's clock is this machine's
      expect(now).toBeLessThanOrEqual(Date.now() + 1000);
    });

    test("refuses a method it does not know: REFUSED with its code, the connection stays", async ({
      scene: { stored },
      launch,
    }) => {
      const client = await launch.client(stored, "tok-1");
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

    test("answers a request that is not a call with a 400 service error", async ({
      scene,
      raw: observer,
    }) => {
      void scene; // the responders are up
      const reply = await observer.request("herald.rpc.time", "not json", { timeout: 5000 });
      expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("400");
      expect(reply.data).toHaveLength(0);
    });

    test("grants user 1 the room channel.lobby: subscribed, then the room's messages", async ({
      scene: { stored },
      launch,
      raw: observer,
    }) => {
      const client = await launch.client(stored, "tok-1");
      client.send({ type: "subscribe", channel: "channel.lobby" });
      expect(await client.next("subscribed")).toMatchObject({ channel: "channel.lobby" });
      observer.publish("herald.channel.lobby", JSON.stringify({ topic: "welcome" }));
      const [message] = await client.waitForMessages(1);
      expect(message).toMatchObject({ channel: "channel.lobby", data: { topic: "welcome" } });
    });

    test("refuses any other room: a subscribe_error with its reason, and the connection stays", async ({
      scene: { stored },
      launch,
    }) => {
      const client = await launch.client(stored, "tok-1");
      client.send({ type: "subscribe", channel: "channel.vault" });
      expect(await client.next("subscribe_error")).toMatchObject({
        channel: "channel.vault",
        code: "SUBSCRIBE_REFUSED",
        reason: "forbidden",
      });
      client.send({ type: "ping" });
      await client.next("pong");
    });

    test("answers a malformed subscribe request with a service error", async ({ scene, raw: observer }) => {
      void scene; // the responders are up
      const reply = await observer.request("herald.subscribe", JSON.stringify({ user: 1 }), {
        timeout: 5000,
      });
      expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("400");
      expect(reply.data.length).toBe(0);
    });

    test("notify stores a notification that reaches the user's socket, once per key", async ({
      scene: { stored },
      launch,
      notify,
    }) => {
      const client = await launch.client(stored, "tok-1");
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

    test("inbox counts unread and marks, and the user's socket gets the new count", async ({
      scene,
      nats,
      notify,
      inbox,
    }) => {
      void scene;
      const ids: number[] = [];
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
      const elsewhere = await runToEnd(example.inbox(["unread", "x"]), envFor(nats, "live"));
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.stderr).toMatch(/--inbox true/);
    });

    test("stops its auth and rpc responders cleanly on SIGTERM", async ({ scene: { responders } }) => {
      const codes = await Promise.all(responders.map((r) => r.stop()));
      expect(codes).toEqual([0, 0, 0]);
    });
  });
}
