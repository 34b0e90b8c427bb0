import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import {
  freePort,
  type NatsServer,
  startNats,
  startTestGateway,
  TestClient,
} from "../../src/testing/index.js";
import { runCli } from "./run-cli.js";

/** `herald disconnect` end to end: the command, a real nats-server, two gateways, real sockets. */
describe("herald disconnect", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let observer: NatsConnection;
  let gateways: RunningGateway[];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats();
    backend = await HeraldBackend.connect({ servers: nats.url, history: false });
    backend.serveAuth((token) => accept({ user: token }));
    observer = await connect({ servers: nats.url });
    gateways = [await startTestGateway(nats), await startTestGateway(nats)];
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await observer?.close();
    await backend?.close();
    await nats?.stop();
  });

  async function open(user: string, gateway: RunningGateway): Promise<TestClient> {
    const c = await TestClient.ready(gateway.url, user);
    clients.push(c);
    return c;
  }

  it("closes every connection of the user on both gateways, and nobody else's", async () => {
    const [g1, g2] = gateways as [RunningGateway, RunningGateway];
    const alice = [await open("alice", g1), await open("alice", g2)];
    const bob = await open("bob", g1);
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

  it("with --reconnect closes with RECONNECT_REQUESTED, taking servers and prefix from the environment", async () => {
    const acme = await startTestGateway(nats, { prefix: "acme" });
    try {
      backend.connection.subscribe("acme.auth", {
        callback: (_err, msg) => {
          msg.respond(JSON.stringify({ ok: true, user: "carol" }));
        },
      });
      await backend.flush();
      const carol = await open("carol", acme);
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
      await acme.close();
    }
  });

  it.each(["a.*", ">", "a b", "x\r\nPUB herald.control.disconnect 2", ""])(
    "refuses the unsafe user id %j with exit 2, sending nothing",
    async (user) => {
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

  it("says so and exits 1 when NATS cannot be reached", async () => {
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
