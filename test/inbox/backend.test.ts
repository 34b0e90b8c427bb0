import { describe, expect } from "vitest";
import { HeraldBackend, HeraldBackendError, UnsafeNameError } from "../../src/backend/index.js";
import { runCli } from "../cli/run-cli.js";
import { test as base } from "../fixtures.js";

/**
 * The inbox from a backend: `notify` stores a notification (deduplicated by its id), and the
 * gateways answer `<prefix>.inbox.unread`, `.mark` and `.list` for users they hold and users they
 * do not, so a backend (or an email's link) marks and counts as a connection would.
 */
const test = base;
test.override({ gatewayOptions: { inbox: true } });

describe("the inbox from a backend", () => {
  test("notify reaches the user's connections, once per id", async ({ client, backend }) => {
    const c = await client("b-alice");
    await c.next("inbox");
    const first = await backend.notify("b-alice", { order: 7 }, { id: "order-7-shipped" });
    expect(first).toEqual({ id: expect.any(Number), duplicate: false });
    expect(await c.next("notification")).toMatchObject({ id: first.id, data: { order: 7 } });
    const again = await backend.notify("b-alice", { order: 7 }, { id: "order-7-shipped" });
    expect(again).toEqual({ id: first.id, duplicate: true });
    const text = await backend.notify("b-alice", "plain words");
    expect(await c.next("notification")).toMatchObject({ id: text.id, data: "plain words" });
    expect(c.frames.filter((f) => f.type === "notification")).toHaveLength(2);
    await expect(backend.notify("a.b", "x")).rejects.toBeInstanceOf(UnsafeNameError);
  });

  test("counts unread for users held by a gateway and users held by none", async ({ client, backend }) => {
    for (let i = 0; i < 3; i++) await backend.notify("b-held", i);
    await backend.notify("b-away", "one");
    const c = await client("b-held");
    await c.next("inbox");
    expect(await backend.unread(["b-held", "b-away", "b-nobody"])).toEqual({
      "b-held": { unread: 3, capped: false },
      "b-away": { unread: 1, capped: false },
      "b-nobody": { unread: 0, capped: false },
    });
  });

  test("a backend's mark reaches every connection of the user, and a page shows it", async ({
    client,
    backend,
  }) => {
    const ids = [(await backend.notify("b-mark", "1")).id, (await backend.notify("b-mark", "2")).id];
    const c = await client("b-mark");
    expect(await c.next("inbox")).toMatchObject({ unread: 2 });
    await backend.mark("b-mark", { state: "read", upTo: ids[0]! });
    expect(await c.next("inbox")).toEqual({
      type: "inbox",
      unread: 1,
      changed: [{ state: "read", upTo: ids[0] }],
    });
    // A user with no connection anywhere: read, marked and written by the answering gateway.
    const away = (await backend.notify("b-mark-away", "x")).id;
    await backend.mark("b-mark-away", { state: "archived", ids: [away] });
    const page = await backend.inbox("b-mark-away", { archived: true });
    expect(page).toMatchObject({ unread: 0, more: false, items: [{ id: away, archived: true, read: true }] });
    expect((await backend.inbox("b-mark-away")).items).toEqual([]);
    const held = await backend.inbox("b-mark", { limit: 1 });
    expect(held).toMatchObject({ unread: 1, more: true, items: [{ id: ids[1], data: "2", read: false }] });
  });

  test("a request that breaks the schema is refused, and no gateway means INBOX_UNAVAILABLE", async ({
    backend,
    raw,
    nats,
    gateway,
  }) => {
    void gateway;
    const reply = await raw.request(
      "herald.inbox.mark",
      JSON.stringify({ user: "x", upTo: 3, state: "unread" }),
    );
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({
      ok: false,
      error: { code: "INVALID_REQUEST" },
    });
    await expect(backend.mark("x", { state: "read", ids: [] })).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
    });
    const elsewhere = await HeraldBackend.connect({ servers: nats.url, prefix: "nobody" });
    try {
      const error = await elsewhere.unread("x").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HeraldBackendError);
      expect(error).toMatchObject({ code: "INBOX_UNAVAILABLE" });
    } finally {
      await elsewhere.close();
    }
  });

  test("herald notify and herald inbox", async ({ nats, gateway }) => {
    void gateway;
    const sent = await runCli(["notify", "b-cli", '{"hello":"cli"}', "--nats", nats.url, "--id", "k1"]);
    expect(sent.stdout).toMatch(/^stored as notification \d+\n$/);
    const again = await runCli(["notify", "b-cli", '{"hello":"cli"}', "--nats", nats.url, "--id", "k1"]);
    expect(again.stdout).toMatch(/duplicate --id/);
    const listed = await runCli(["inbox", "b-cli", "--nats", nats.url]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^b-cli: 1 unread\n\d+ \S+ unread,unseen {"hello":"cli"}\n$/);
    const bad = await runCli(["notify", "a.b", "x", "--nats", nats.url]);
    expect(bad.code).toBe(2);
  });
});
