import { describe, expect } from "vitest";
import { accept, type HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type ReceivedFrame, type TestClient, waitUntil } from "../../src/testing/index.js";
import { stackTest } from "../fixtures.js";

/**
 * Presence on a real nats-server with two gateways: members across both, user-level join and
 * leave, the join/leave cap, and the backend's requests. Tokens are user ids; every user gets
 * `channel.room` with presence, `channel.quiet` without, and `info` naming it. The tests go on from
 * one another: the backend, the gateways and every client last the whole file.
 */
const test = stackTest.extend<{
  backend: HeraldBackend;
  /** Two gateways, and a third whose join/leave cap is 3. */
  gateways: { a: RunningGateway; b: RunningGateway; capped: RunningGateway };
  connect: (gateway: RunningGateway, user: string) => Promise<TestClient>;
}>({
  backend: [
    async ({ nats, launchForFile }, use) => {
      const backend = await launchForFile.backend(nats, {
        authorize: (token) =>
          accept({
            user: token,
            channels: ["room", "quiet", ...(token.startsWith("cap-") ? ["capped"] : [])],
            presence: ["room", ...(token.startsWith("cap-") ? ["capped"] : [])],
            info: { name: token.toUpperCase() },
          }),
      });
      await use(backend);
    },
    { scope: "file" },
  ],
  gateways: [
    async ({ nats, backend, launchForFile }, use) => {
      void backend; // answers their auth requests
      const options = { presence: true, livenessTimeout: 2000 };
      await use({
        a: await launchForFile.gateway(nats, options),
        b: await launchForFile.gateway(nats, options),
        capped: await launchForFile.gateway(nats, { ...options, presenceJoinLeaveLimit: 3 }),
      });
    },
    { scope: "file" },
  ],
  connect: [
    async ({ gateways, launchForFile }, use) => {
      void gateways;
      await use((gateway, user) => launchForFile.client(gateway, user));
    },
    { scope: "file" },
  ],
});

/** Asks for a channel's members, returning the answer and every frame that came before it. */
async function ask(
  client: TestClient,
  channel: string,
): Promise<{ answer: ReceivedFrame; before: ReceivedFrame[] }> {
  const from = client.frames.length;
  client.send({ type: "presence", channel });
  const answer = await client.next("presence");
  const at = client.frames.indexOf(answer);
  return { answer, before: client.frames.slice(from, at) };
}

/** Waits until the backend sees exactly `users` in the channel (other gateways' changes arrive a moment later). */
async function membersBecome(backend: HeraldBackend, name: string, users: string[]): Promise<void> {
  const wanted = JSON.stringify([...users].sort());
  let last = "";
  await waitUntil(async () => {
    last = JSON.stringify((await backend.presence(name)).members.map((m) => m.user).sort());
    return last === wanted;
  }, `members of ${name} to be ${wanted} (last: ${last})`);
}

describe("presence", () => {
  test("lists the channel's presence in ready, and refuses presence on other channels without closing", async ({
    gateways: { a },
    connect,
  }) => {
    const client = await connect(a, "p-solo");
    expect(client.frames[0]).toMatchObject({ type: "ready", presence: ["channel.room"] });
    client.send({ type: "presence", channel: "channel.quiet" });
    expect(await client.next("presence_error")).toMatchObject({
      channel: "channel.quiet",
      code: "NOT_GRANTED",
    });
    client.send({ type: "presence", channel: "user.p-solo" });
    expect(await client.next("presence_error")).toMatchObject({ code: "NOT_GRANTED" });
    client.send({ type: "ping" });
    await client.next("pong");
    expect(client.closed).toBeUndefined();
  });

  test("joins and leaves per user across two gateways, and members count each user's connections", async ({
    backend,
    gateways: { a, b },
    connect,
  }) => {
    const alice = await connect(a, "p-alice");
    expect(await client(alice).join("p-alice")).toMatchObject({ info: { name: "P-ALICE" } });
    const bob1 = await connect(b, "p-bob");
    expect(await client(alice).join("p-bob")).toMatchObject({
      channel: "channel.room",
      info: { name: "P-BOB" },
    });
    const bob2 = await connect(a, "p-bob");
    await waitUntil(async () => (await backend.online("p-bob"))["p-bob"] === 2, "bob's second connection");
    const { answer } = await ask(bob1, "channel.room");
    expect(answer.count).toBe(3);
    expect(answer.members).toContainEqual({ user: "p-bob", connections: 2, info: { name: "P-BOB" } });
    bob1.socket.close(1000);
    // Bob still has a connection: no leave, and alice's next answer still lists him.
    bob2.socket.close(1000);
    const leave = await alice.next("leave");
    expect(leave).toEqual({ type: "leave", channel: "channel.room", user: "p-bob" });
    const joinsOfBob = alice.frames.filter((f) => f.type === "join" && f.user === "p-bob");
    const leavesOfBob = alice.frames.filter((f) => f.type === "leave" && f.user === "p-bob");
    expect([joinsOfBob.length, leavesOfBob.length]).toEqual([1, 1]);
    const after = await ask(alice, "channel.room");
    expect((after.answer.members as { user: string }[]).map((m) => m.user).sort()).toEqual([
      "p-alice",
      "p-solo",
    ]);
  });

  test("stops join and leave frames above the cap, and answers presence all the same", async ({
    backend,
    gateways: { capped },
    connect,
  }) => {
    const watcher = await connect(capped, "cap-w");
    await client(watcher).join("cap-w");
    const u1 = await connect(capped, "cap-1");
    const u2 = await connect(capped, "cap-2");
    await client(watcher).join("cap-1");
    await client(watcher).join("cap-2");
    const u3 = await connect(capped, "cap-3"); // the fourth member: over the cap of 3
    await membersBecome(backend, "capped", ["cap-w", "cap-1", "cap-2", "cap-3"]);
    // The gateway sent any join of cap-3 before this answer, which counts it.
    const { answer: full } = await ask(watcher, "channel.capped");
    expect(full.count).toBe(4);
    expect(watcher.frames.filter((f) => f.type === "join" && f.user === "cap-3")).toEqual([]);
    u3.socket.close(1000); // 4 -> 3: the channel had more than 3 with it, no leave
    await membersBecome(backend, "capped", ["cap-w", "cap-1", "cap-2"]);
    await ask(watcher, "channel.capped");
    u2.socket.close(1000); // 3 -> 2: a leave again
    expect(await watcher.next("leave")).toMatchObject({ channel: "channel.capped", user: "cap-2" });
    expect(watcher.frames.filter((f) => f.type === "leave" && f.user === "cap-3")).toEqual([]);
    void u1;
  });

  test("answers the backend: who is online with how many connections, and a channel's members", async ({
    backend,
    gateways: { a, b },
    connect,
  }) => {
    await connect(a, "p-carol");
    await connect(b, "p-carol");
    await connect(b, "p-dave");
    await waitUntil(
      async () => Object.keys(await backend.online(["p-carol", "p-dave"])).length === 2,
      "carol and dave",
    );
    await waitUntil(
      async () => (await backend.online("p-carol"))["p-carol"] === 2,
      "carol's two connections",
    );
    expect(await backend.online(["p-carol", "p-dave", "p-nobody"])).toEqual({ "p-carol": 2, "p-dave": 1 });
    expect(await backend.online("p-nobody")).toEqual({});
    const room = await backend.presence("room");
    expect(room.members.map((m) => m.user)).toEqual(expect.arrayContaining(["p-carol", "p-dave"]));
    expect(room.count).toBe(room.members.length);
    expect(room.members.find((m) => m.user === "p-carol")).toEqual({
      user: "p-carol",
      connections: 2,
      info: { name: "P-CAROL" },
    });
    expect(await backend.presence("quiet")).toEqual({ count: 0, members: [] });
  });

  test("answers an invalid backend request with an error, not silence", async ({ backend }) => {
    const reply = await backend.connection.request(
      "herald.presence.online",
      new TextEncoder().encode('{"users":["a.b"]}'),
    );
    expect(reply.json()).toMatchObject({ ok: false, error: { code: "INVALID_REQUEST" } });
    await expect(backend.online(["a b"])).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });
});

/** Waits for a client's next join of `user` (skipping other frames). */
function client(c: TestClient) {
  return {
    async join(user: string): Promise<ReceivedFrame> {
      for (;;) {
        const frame = await c.next("join");
        if (frame.user === user) return frame;
      }
    },
  };
}
