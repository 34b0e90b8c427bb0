import type { Msg } from "@nats-io/nats-core";
import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import { freePort } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import { runCli } from "./run-cli.js";

// A nats-server without JetStream, and gateways and a backend without history.
test.override({ natsOptions: {} });

/** `herald disconnect` end to end: the command, a real nats-server, two gateways, real sockets. */
describe("herald disconnect", () => {
  test.override({ backendOptions: { history: false }, gatewayOptions: { history: false } });

  test("closes every connection of the user on both gateways, and nobody else's", async ({
    nats,
    client,
    gatewayPair,
  }) => {
    const [g1, g2] = gatewayPair;
    const alice = [await client("alice", { at: g1 }), await client("alice", { at: g2 })];
    const bob = await client("bob", { at: g1 });
    const result = await runCli([
      "disconnect",
      "alice",
      "--reason",
      "signed out everywhere",
      "--nats",
      nats.url,
    ]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toBe(
      "sent to herald.control.disconnect: every gateway connected to NATS closes the connections of alice (DISCONNECTED, 4430: they stop)\n",
    );
    for (const c of alice) {
      expect(await c.next("error")).toMatchObject({
        code: "DISCONNECTED",
        message: 'the backend disconnected this user: "signed out everywhere"',
      });
      expect((await c.waitClose()).code).toBe(CloseCode.Disconnected);
    }
    bob.send({ type: "ping" });
    await bob.next("pong");
    expect(bob.closed).toBeUndefined();
  });

  test("with --reconnect closes with RECONNECT_REQUESTED, taking servers and prefix from the environment", async ({
    nats,
    backend,
    startGateway,
    client,
  }) => {
    const acme = await startGateway({ history: false, prefix: "acme" });
    const sub = backend.connection.subscribe("acme.auth", {
      callback: (_err, msg) => {
        msg.respond(JSON.stringify({ ok: true, user: "carol" }));
      },
    });
    try {
      await backend.flush();
      const carol = await client("carol", { at: acme });
      const result = await runCli(["disconnect", "carol", "--reconnect"], {
        HERALD_NATS_URL: nats.url,
        HERALD_PREFIX: "acme",
      });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("sent to acme.control.disconnect");
      expect(result.stdout).toContain("RECONNECT_REQUESTED, 4431");
      expect(await carol.next("error")).toMatchObject({ code: "RECONNECT_REQUESTED" });
      expect((await carol.waitClose()).code).toBe(CloseCode.ReconnectRequested);
    } finally {
      sub.unsubscribe();
    }
  });

  test.for(["a.*", ">", "a b", "x\r\nPUB herald.control.disconnect 2", ""])(
    "refuses the unsafe user id %j with exit 2, sending nothing",
    async (user, { nats, raw: observer }) => {
      const seen: Msg[] = [];
      const sub = observer.subscribe(">", { callback: (_err, msg) => void seen.push(msg) });
      await observer.flush();
      try {
        const result = await runCli(["disconnect", user, "--nats", nats.url]);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/^herald: invalid user id/);
        expect(result.stdout).toBe("");
        await observer.flush();
        expect(seen.filter((m) => m.subject.includes("control"))).toEqual([]);
      } finally {
        sub.unsubscribe();
      }
    },
  );

  test("says so and exits 1 when NATS cannot be reached", async () => {
    const port = await freePort();
    const result = await runCli([
      "disconnect",
      "alice",
      "--nats",
      `nats://127.0.0.1:${port}`,
      "--timeout",
      "500",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^herald: cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+/);
  });
});
