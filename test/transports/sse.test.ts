import { spawn } from "node:child_process";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import { send, text } from "../../src/testing/http-stream-client.js";
import { HttpStreamClient, httpBase, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

/**
 * Server-sent events on a real gateway and nats-server: the `auth` frame POSTed for a one-time
 * ticket, the ticket's GET a `text/event-stream` of the same frames, the frames from the client
 * as POSTs like HTTP-streaming's; a ticket works once, for seconds, on any gateway, and is never
 * logged.
 */
const ROOT = join(import.meta.dirname, "../..");

async function get(url: string) {
  const response = await send("GET", url, {});
  return { status: response.statusCode, body: await text(response) };
}

async function postTicket(base: string, body: string) {
  const response = await send("POST", `${base}/sse`, {}, body);
  return { status: response.statusCode, headers: response.headers, body: await text(response) };
}

describe("server-sent events", () => {
  test("a ticket's GET is an event stream: the stream's id, padding, then the frames as data events", async ({
    gateway,
    openStream,
    backend,
    raw,
  }) => {
    const stream = await openStream({ type: "auth", token: "ann" }, { transport: "sse" });
    expect(stream.response.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(stream.response.headers["x-accel-buffering"]).toBe("no");
    expect(stream.response.headers["cache-control"]).toBe("no-cache, no-transform");
    expect(await stream.next()).toMatchObject({ type: "ready", user: "ann" });
    expect(stream.opening).toMatch(/^event: session\ndata: \S+\n\n:[ ]{2048}\n\n/);
    expect(stream.streamId).toMatch(new RegExp(`^${gateway.id}\\.`));
    raw.publish("herald.user.ann", '{\n"n": 1\n}');
    await stream.waitForMessages(1);
    await backend.publish("ann", { n: 2 });
    expect((await stream.waitForMessages(2)).map((m) => m.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await stream.send({ type: "ping" })).toBe(204);
    await stream.next("pong");
  });

  test("a ticket is good for one GET; an unknown one is 404; the POST takes only an auth frame", async ({
    gateway,
  }) => {
    const base = httpBase(gateway.url);
    const ticket = await HttpStreamClient.ticket(base, JSON.stringify({ type: "auth", token: "bo" }));
    expect(ticket).toMatch(new RegExp(`^${gateway.id}\\.[A-Za-z0-9_-]{22}$`));
    const first = await send("GET", `${base}/sse?ticket=${ticket}`, {});
    expect(first.statusCode).toBe(200);
    first.destroy();
    expect((await get(`${base}/sse?ticket=${ticket}`)).status).toBe(404);
    expect((await get(`${base}/sse?ticket=${gateway.id}.${"x".repeat(22)}`)).status).toBe(404);
    expect((await get(`${base}/sse`)).status).toBe(400);
    const notJson = await postTicket(base, "{");
    expect(notJson.status).toBe(400);
    expect(JSON.parse(notJson.body)).toMatchObject({ type: "error", code: "INVALID_JSON" });
    const notAuth = await postTicket(base, '{"type":"ping"}');
    expect(JSON.parse(notAuth.body)).toMatchObject({ type: "error", code: "INVALID_FRAME" });
    const issued = await postTicket(base, '{"type":"auth","token":"x"}');
    expect(issued.headers["cache-control"]).toBe("no-store");
    expect(JSON.parse(issued.body)).toMatchObject({ expiresIn: 10_000 });
  });

  describe("with a short ticket life", () => {
    test.override({ gatewayOptions: { sseTicketTtl: 200 } });

    test("a ticket expires after --sse-ticket-ttl", async ({ gateway }) => {
      const base = httpBase(gateway.url);
      const ticket = await HttpStreamClient.ticket(base, JSON.stringify({ type: "auth", token: "cy" }));
      await sleep(400);
      expect((await get(`${base}/sse?ticket=${ticket}`)).status).toBe(404);
    });
  });

  test("a ticket works on any gateway: the one that issued it hands it over once", async ({
    gatewayPair: [first, second],
    openStream,
  }) => {
    const stream = await openStream(
      { type: "auth", token: "dee" },
      { at: first, transport: "sse", redeemAt: httpBase(second.url) },
    );
    expect(await stream.next()).toMatchObject({ type: "ready", gateway: second.id });
    expect(stream.streamId).toMatch(new RegExp(`^${second.id}\\.`));
    // Frames POSTed to the issuing gateway reach the stream on the other.
    expect(await stream.send({ type: "ping" }, first.url)).toBe(204);
    await stream.next("pong");
    const again = await HttpStreamClient.ticket(
      httpBase(first.url),
      JSON.stringify({ type: "auth", token: "dee" }),
    );
    const redeemed = await send("GET", `${httpBase(second.url)}/sse?ticket=${again}`, {});
    expect(redeemed.statusCode).toBe(200);
    redeemed.destroy();
    expect((await get(`${httpBase(second.url)}/sse?ticket=${again}`)).status).toBe(404);
  });

  describe("what the gateway logs", () => {
    const lines: string[] = [];
    const logger = pino(
      { level: "trace" },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    test.override({
      gatewayHooks: { logger },
      gatewayOptions: { heartbeatInterval: 100, heartbeatTimeout: 300 },
    });

    test("never holds a ticket or a stream id, at trace level, used, reused, refused or timed out", async ({
      gateway,
      openStream,
    }) => {
      const base = httpBase(gateway.url);
      const stream = await openStream({ type: "auth", token: "eve" }, { transport: "sse" });
      await stream.next("ready");
      const ticket = await HttpStreamClient.ticket(base, JSON.stringify({ type: "auth", token: "eve" }));
      await get(`${base}/sse?ticket=${ticket}`);
      await get(`${base}/sse?ticket=${ticket}`);
      expect(await stream.waitClose()).toMatchObject({ code: CloseCode.HeartbeatTimeout });
      const secrets = [ticket, stream.streamId!].map((id) => id.split(".")[1]!);
      expect(lines.length).toBeGreaterThan(0);
      for (const secret of secrets) expect(lines.filter((line) => line.includes(secret))).toEqual([]);
    });
  });

  describe("read with curl alone (examples/sse/read-with-curl.sh)", () => {
    test.override({ gatewayOptions: { heartbeatInterval: 200, heartbeatTimeout: 1000 } });

    test("prints ready and every message, and answers pings past the heartbeat timeout", async ({
      gateway,
      backend,
    }) => {
      const script = spawn("bash", [join(ROOT, "examples/sse/read-with-curl.sh")], {
        env: { ...process.env, GATEWAY: httpBase(gateway.url), TOKEN: "fay" },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group: the curls of its pipeline end with it.
        detached: true,
      });
      let output = "";
      script.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      try {
        await waitUntil(() => output.includes('"type":"ready"'), "ready from curl");
        await backend.publish("fay", { n: 1 });
        await waitUntil(() => output.includes('"data":{"n":1}'), "the first message");
        // Well past --heartbeat-timeout: the script's pongs keep the stream.
        await sleep(2500);
        await backend.publish("fay", { n: 2 });
        await waitUntil(() => output.includes('"data":{"n":2}'), "a message after the heartbeat timeout");
        expect(output).not.toMatch(/HEARTBEAT_TIMEOUT/);
      } finally {
        const exited = new Promise((resolve) => script.once("exit", resolve));
        if (script.pid !== undefined && script.exitCode === null) process.kill(-script.pid, "SIGTERM");
        await exited;
      }
    });
  });
});
