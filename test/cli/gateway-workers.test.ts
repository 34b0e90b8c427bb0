import { execFileSync } from "node:child_process";
import { get } from "node:http";
import { describe, expect } from "vitest";
import { WebSocket } from "ws";
import { freePort, type TestClient, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

test.override({ natsOptions: {}, backendOptions: { history: false } });

/** The gateway workers a `--workers` process has forked (its child processes). */
function workerPids(primary: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(primary)], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

/** GET on a new TCP connection each time, so the cluster hands each request to the next worker. */
function scrape(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

/** A sample's value in Prometheus text, without labels. */
function sample(text: string, name: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

type Outcome = { kind: "ready"; gateway: string } | { kind: "failed" | "hung" };

/**
 * One client connecting: `ready` (with the gateway that serves it), or `failed` when the socket
 * closes or errors first (its reconnect would run at once), or `hung` when neither happens within
 * `patienceMs`.
 */
function connectOnce(url: string, token: string, patienceMs: number): Promise<Outcome> {
  const socket = new WebSocket(url);
  return new Promise<Outcome>((resolve) => {
    const settle = (outcome: Outcome) => {
      clearTimeout(patience);
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.terminate();
      resolve(outcome);
    };
    const patience = setTimeout(() => settle({ kind: "hung" }), patienceMs);
    socket.on("open", () => socket.send(JSON.stringify({ type: "auth", token })));
    socket.on("message", (data) => {
      const frame = JSON.parse(String(data)) as { type?: unknown; gateway?: unknown };
      if (frame.type === "ready") settle({ kind: "ready", gateway: String(frame.gateway) });
    });
    socket.on("error", () => settle({ kind: "failed" }));
    socket.on("close", () => settle({ kind: "failed" }));
  });
}

describe("herald gateway --workers", () => {
  test("serves one port from several processes, delivers through each, and drains them all on SIGTERM", async ({
    nats,
    backend,
    launch,
  }) => {
    const gateway = await launch.gatewayProcess(nats, [
      "--workers",
      "2",
      "--history",
      "false",
      "--gateway-id",
      "multi",
    ]);
    const clients: TestClient[] = [];
    // the cluster hands connections out in turn among the workers already listening
    const ids = new Set<unknown>();
    for (let i = 0; i < 60 && ids.size < 2; i++) {
      const client = await launch.client(gateway, "wendy");
      clients.push(client);
      ids.add(client.frames[0]?.gateway);
      if (ids.size < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ids).toEqual(new Set(["multi-w0", "multi-w1"]));
    await backend.publish("wendy", { hello: "all tabs" });
    for (const c of clients)
      expect((await c.waitForMessages(1))[0]).toMatchObject({ data: { hello: "all tabs" } });
    expect(await gateway.stop("SIGTERM")).toBe(0);
    for (const c of clients) expect((await c.waitClose()).code).toBe(1012);
  });

  test("answers /metrics on any worker with the figures of all workers together", async ({
    nats,
    backend,
    launch,
  }) => {
    void backend; // answers the clients' auth
    const metricsPort = await freePort();
    const gateway = await launch.gatewayProcess(nats, [
      "--workers",
      "2",
      "--history",
      "false",
      "--gateway-id",
      "summed",
      "--metrics-port",
      String(metricsPort),
    ]);
    const clients: TestClient[] = [];
    const perWorker = new Map<unknown, number>();
    for (let i = 0; i < 60 && (perWorker.size < 2 || clients.length < 5); i++) {
      const client = await launch.client(gateway, `user-${i}`);
      clients.push(client);
      const worker = client.frames[0]?.gateway;
      perWorker.set(worker, (perWorker.get(worker) ?? 0) + 1);
      if (perWorker.size < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect([...perWorker.keys()].sort()).toEqual(["summed-w0", "summed-w1"]);

    // every scrape goes to the next worker in turn, and each must count every worker's connections
    for (let i = 0; i < 6; i++) {
      const { status, body } = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(status).toBe(200);
      expect(sample(body, "herald_connections")).toBe(clients.length);
      expect(sample(body, "herald_authenticated_connections")).toBe(clients.length);
      // a process's own figures are not summed into nonsense
      expect(body).toMatch(
        /^nodejs_version_info\{version="v[\d.]+",major="\d+",minor="\d+",patch="\d+"\} 1$/m,
      );
    }
  });

  test("a worker killed while clients connect leaves none of them waiting: each is served or closed", async ({
    nats,
    backend,
    launch,
  }) => {
    void backend; // answers the clients' auth
    const gateway = await launch.gatewayProcess(nats, ["--workers", "2", "--history", "false"]);
    await waitUntil(() => workerPids(gateway.pid).length === 2, "two workers");
    const outcomes = { ready: 0, failed: 0, hung: 0 };
    const servedBy = new Set<string>();
    let opening = true;
    // clients connect without pause while workers are killed, so connections are always being handed out
    const openers = Array.from({ length: 40 }, async (_, opener) => {
      for (let i = 0; opening; i++) {
        const outcome = await connectOnce(gateway.url, `opener-${opener}-${i}`, 10_000);
        outcomes[outcome.kind]++;
        if (outcome.kind === "ready") servedBy.add(outcome.gateway);
        // as a client's reconnect would, after a short pause
        else await new Promise((r) => setTimeout(r, 100));
      }
    });
    for (let kill = 0; kill < 8; kill++) {
      const before = outcomes.ready;
      await waitUntil(() => outcomes.ready >= before + 40, "clients served before the kill", {
        timeoutMs: 30_000,
      });
      const [victim] = workerPids(gateway.pid);
      if (victim === undefined) throw new Error(`no workers: ${gateway.output()}`);
      const knownGateways = new Set(servedBy);
      process.kill(victim, "SIGKILL");
      // each worker that starts is a gateway with an id of its own
      await waitUntil(
        () => [...servedBy].some((id) => !knownGateways.has(id)),
        "a client served by the killed worker's replacement",
        { timeoutMs: 30_000 },
      );
    }
    opening = false;
    await Promise.all(openers);
    expect(outcomes.hung).toBe(0);
    expect(outcomes.ready).toBeGreaterThan(300);
  });
});
