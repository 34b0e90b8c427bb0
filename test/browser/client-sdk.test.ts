import { readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseCode } from "../../src/protocol/close-codes.js";
import { pollFor } from "../../src/testing/index.js";
import { ScriptedGateway, sleep } from "../client/scripted-gateway.js";
import { launchChromium } from "./chromium.js";
import { buildClientBundle } from "./client-bundle.js";

type LogEntry = [string, ...unknown[]];

/** The `<script>` bundle, built with the project's own tsup entry, in a real Chromium. */
describe("client bundle in Chromium", () => {
  let bundle: string;
  let outDir: string;
  let browser: Browser;
  let gateway: ScriptedGateway;
  let page: Page;
  // Chromium lets only a loopback page open loopback sockets (local network access checks).
  let pageServer: Server;
  let pageUrl: string;

  beforeAll(async () => {
    const built = await buildClientBundle();
    outDir = built.dir;
    bundle = await readFile(built.file, "utf8");
    browser = await launchChromium();
    gateway = await ScriptedGateway.start();
    pageServer = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><title>Herald client</title><script>${bundle}</script>`);
    });
    await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
    pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  const log = (): Promise<LogEntry[]> => page.evaluate(() => (window as unknown as { log: LogEntry[] }).log);

  it("stays under 6.25 KB gzipped", () => {
    expect(gzipSync(bundle, { level: 9 }).length).toBeLessThanOrEqual(6400);
  });

  it("connects with the browser's WebSocket, delivers, answers pings, reconnects on 1012 and stops on 4401", async () => {
    page = await browser.newPage();
    await page.goto(pageUrl);
    await page.evaluate((url) => {
      const w = window as unknown as {
        log: unknown[][];
        client: unknown;
        Herald: typeof import("../../src/client/index.js");
      };
      w.log = [];
      const client = w.Herald.connect({
        url,
        getToken: async () => "browser-token",
        backoff: { initialMs: 50, maxMs: 100 },
      });
      client.on("state", (state) => w.log.push(["state", state]));
      client.on("message", (m) => w.log.push(["message", m.channel, m.data]));
      client.on("error", (e) => w.log.push(["error", e.code, e.closeCode, e.retryable]));
      w.client = client;
    }, gateway.url);

    const first = await gateway.connection(0);
    expect(await first.frame("auth")).toEqual({ type: "auth", token: "browser-token" });
    await first.ready();
    first.send({ type: "message", channel: "user.1", data: { text: "<img src=x onerror=alert(1)>" } });
    first.send({ type: "ping" });
    await first.frame("pong");
    let entries = await waitForLog((l) => l.some((e) => e[0] === "message"));
    expect(entries.filter((e) => e[0] === "message")).toEqual([
      ["message", "user.1", { text: "<img src=x onerror=alert(1)>" }],
    ]);

    first.fail("DRAINING", CloseCode.ServiceRestart);
    const second = await gateway.connection(1);
    await second.frame("auth");
    second.fail("AUTH_REFUSED", CloseCode.AuthRefused, { reason: "invalid_token" });
    // the error comes first, then the state that it ended in
    entries = await waitForLog((l) => l.at(-1)?.[0] === "state" && l.at(-1)?.[1] === "closed");
    expect(entries.filter((e) => e[0] === "state").map((e) => e[1])).toEqual([
      "connecting",
      "authenticating",
      "ready",
      "reconnecting",
      "connecting",
      "authenticating",
      "closed",
    ]);
    expect(entries.filter((e) => e[0] === "error")).toEqual([
      ["error", "DRAINING", 1012, true],
      ["error", "AUTH_REFUSED", 4401, false],
    ]);
    await sleep(300);
    expect(gateway.connections).toHaveLength(2);

    // The application asks again: a fresh attempt.
    await page.evaluate(() => (window as unknown as { client: { connect(): void } }).client.connect());
    const third = await gateway.connection(2);
    await third.ready();
    await waitForLog((l) => l.at(-1)?.[0] === "state" && l.at(-1)?.[1] === "ready");
    expect(gateway.invalidFrames).toEqual([]);
  });

  async function waitForLog(condition: (entries: LogEntry[]) => boolean): Promise<LogEntry[]> {
    let entries: LogEntry[] = [];
    const matched = async () => {
      entries = await log();
      return condition(entries) ? entries : undefined;
    };
    return pollFor(matched, "the log to match", { intervalMs: 20 }).catch(() => {
      throw new Error(`log never matched: ${JSON.stringify(entries)}`);
    });
  }
});
