import { describe, expect } from "vitest";
import { send, text } from "../../src/testing/http-stream-client.js";
import { HttpRefusal, httpBase, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

/**
 * The limits of the hostile-clients work hold on the HTTP transports: origins on every request,
 * CORS preflights included; the per-address admission of an upgrade for every stream; the frame
 * budget for upstream POSTs; the frame size; and a POST naming no stream costs a connection attempt.
 */
const PAGE = "https://app.example.com";

async function request(url: string, method: string, headers: Record<string, string>, body?: string) {
  const response = await send(method, url, headers, body);
  return { status: response.statusCode, headers: response.headers, body: await text(response) };
}

async function refusal(opening: Promise<unknown>): Promise<HttpRefusal> {
  const error = await opening.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(HttpRefusal);
  return error as HttpRefusal;
}

describe("origins on the HTTP transports", () => {
  test.override({ gatewayOptions: { allowedOrigins: [PAGE] } });

  test("every request of a page of another origin is 403, preflight included; an allowed page gets CORS headers", async ({
    gateway,
    openStream,
    streamClient,
  }) => {
    const base = httpBase(gateway.url);
    const evil = { origin: "https://evil.example.net" };
    expect((await refusal(openStream({ type: "auth", token: "a" }, { headers: evil }))).status).toBe(403);
    expect(
      (await refusal(openStream({ type: "auth", token: "a" }, { headers: evil, transport: "sse" }))).status,
    ).toBe(403);
    for (const path of ["stream", "sse", "send"]) {
      const preflight = await request(`${base}/${path}`, "OPTIONS", {
        ...evil,
        "access-control-request-method": "POST",
      });
      expect(preflight.status, path).toBe(403);
      expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    }
    const allowedPreflight = await request(`${base}/send`, "OPTIONS", {
      origin: PAGE,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    });
    expect(allowedPreflight.status).toBe(204);
    expect(allowedPreflight.headers).toMatchObject({
      "access-control-allow-origin": PAGE,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": "content-type",
    });
    const stream = await streamClient("ann", { headers: { origin: PAGE } });
    expect(stream.response.headers["access-control-allow-origin"]).toBe(PAGE);
    // An upstream POST from another origin never reaches the stream, though it names it.
    const post = await request(`${base}/send`, "POST", evil, `${stream.streamId}\n{"type":"ping"}`);
    expect(post.status).toBe(403);
    expect(await stream.send({ type: "ping" })).toBe(204);
    await stream.next("pong");
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/herald_refused_upgrades_total\{reason="origin"\} 6/);
  });
});

describe("per-address connections", () => {
  test.override({ gatewayOptions: { maxConnectionsPerIp: 2 } });

  test("streams count against --max-connections-per-ip until they end", async ({
    gateway,
    openStream,
    streamClient,
  }) => {
    const one = await streamClient("a");
    await streamClient("b", { transport: "sse" });
    const third = await refusal(openStream({ type: "auth", token: "c" }));
    expect(third.status).toBe(429);
    expect((await refusal(openStream({ type: "auth", token: "c" }, { transport: "sse" }))).status).toBe(429);
    one.close();
    await waitUntil(() => gateway.sessionCount === 1, "the first stream ended");
    await streamClient("c");
  });
});

describe("per-address connection rate", () => {
  test.override({ gatewayOptions: { connectRatePerIp: 1, connectBurstPerIp: 3 } });

  test("opening streams and taking SSE tickets take tokens of the connection rate", async ({
    openStream,
  }) => {
    const refused: HttpRefusal[] = [];
    const transports = ["http-stream", "sse"] as const;
    for (let i = 0; i < 10 && refused.length < 2; i++) {
      const transport = transports[i % 2];
      await openStream({ type: "auth", token: `u${i}` }, { transport }).catch((err: unknown) => {
        if (err instanceof HttpRefusal) refused.push(err);
        else throw err;
      });
    }
    expect(refused.map((r) => [r.status, r.headers["retry-after"]])).toEqual([
      [429, "1"],
      [429, "1"],
    ]);
  });
});

describe("upstream POSTs", () => {
  test.override({ gatewayOptions: { clientFrameRate: 1, clientFrameBurst: 5, maxFrameBytes: 1024 } });

  test("frames POSTed take the stream's frame budget: past it RATE_LIMITED closes the stream", async ({
    streamClient,
  }) => {
    const stream = await streamClient("bea");
    const pings = Array.from({ length: 10 }, () => ({ type: "ping" }));
    expect(await stream.send(pings)).toBe(204);
    expect(await stream.next("error")).toMatchObject({ code: "RATE_LIMITED" });
    expect(await stream.waitClose()).toEqual({ code: 1008, reason: "RATE_LIMITED" });
  });

  test("a frame over --max-frame-bytes closes the stream with 1009; a body past four of them is 413", async ({
    streamClient,
    gateway,
  }) => {
    const big = await streamClient("cid");
    const tooMuch = await request(
      `${httpBase(gateway.url)}/send`,
      "POST",
      {},
      `${big.streamId}\n${"x".repeat(5000)}`,
    );
    expect(tooMuch.status).toBe(413);
    expect(big.closed).toBeUndefined();
    expect(await big.send({ type: "ping", pad: "x".repeat(1100) })).toBe(204);
    expect(await big.waitClose()).toEqual({ code: 1009, reason: "frame too large" });
  });

  test("a POST naming no stream is 404, and costs its address a connection attempt", async ({ gateway }) => {
    const base = httpBase(gateway.url);
    const made = `${gateway.id}.${"A".repeat(22)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await request(`${base}/send`, "POST", {}, `${made}\n{"type":"pong"}`)).status ?? 0);
    // The default burst is 2000: these are all 404.
    expect(statuses).toEqual([404, 404, 404, 404, 404]);
    expect((await request(`${base}/send`, "POST", {}, "not an id\n{}")).status).toBe(400);
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/herald_upstream_posts_total\{result="unknown_stream"\} 5/);
  });
});

describe("a POST naming no stream, past the connection rate", () => {
  test.override({ gatewayOptions: { connectRatePerIp: 1, connectBurstPerIp: 3 } });

  test("is 429 with Retry-After once its address's bucket is empty", async ({ gateway }) => {
    const base = httpBase(gateway.url);
    const other = `gw-elsewhere.${"B".repeat(22)}`;
    const answers: { status?: number; headers: Record<string, unknown> }[] = [];
    // Three in the bucket, one more a second: a few more than three in a row meet an empty one.
    for (let i = 0; i < 10 && !answers.some((a) => a.status === 429); i++)
      answers.push(await request(`${base}/send`, "POST", {}, `${other}\n{"type":"pong"}`));
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([404, 404, 404]);
    const refused = answers.at(-1);
    expect(refused?.status).toBe(429);
    expect(refused?.headers["retry-after"]).toBe("1");
  });
});
