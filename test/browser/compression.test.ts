import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { accept } from "../../src/backend/index.js";
import { test } from "../fixtures.js";
import { launchChromium } from "./chromium.js";

/**
 * `--compression true` with the browser's own WebSocket: Chromium negotiates permessage-deflate,
 * deflates what it sends, and reads the frames the gateway deflated once for every socket.
 */
describe("compression in Chromium", () => {
  let browser: Browser;
  // Chromium lets only a loopback page open loopback sockets (local network access checks).
  let pageServer: Server;
  let pageUrl: string;

  beforeAll(async () => {
    browser = await launchChromium();
    pageServer = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>compression</title>");
    });
    await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
    pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
  });

  test.override({
    gatewayOptions: { compression: true, history: false },
    backendOptions: { history: false, authorize: (token) => accept({ user: token, channels: ["news"] }) },
  });

  test("reads deflated messages, large and small, in order", async ({ gateway, backend }) => {
    const page = await browser.newPage();
    try {
      await page.goto(pageUrl);
      const ready = await page.evaluate(
        (url) =>
          new Promise<{ extensions: string; ready: string }>((resolve, reject) => {
            const w = window as unknown as { received: unknown[] };
            w.received = [];
            const ws = new WebSocket(url);
            ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: "reader" }));
            ws.onerror = () => reject(new Error("socket error"));
            ws.onmessage = (event) => {
              const frame = JSON.parse(String(event.data)) as { type: string };
              if (frame.type === "ready") resolve({ extensions: ws.extensions, ready: frame.type });
              else w.received.push(frame);
            };
          }),
        gateway.url,
      );
      expect(ready.extensions).toContain("permessage-deflate");
      expect(ready.extensions).toContain("server_no_context_takeover");
      const large = { text: "the same words again and again ".repeat(200) }; // 6 KB, deflated
      const small = { n: 1 }; // sent plain
      await backend.publishToChannel("news", large);
      await backend.publishToChannel("news", small);
      await backend.publishToChannel("news", large);
      const received = await page.waitForFunction(
        () => {
          const { received } = window as unknown as { received: { type: string }[] };
          return received.filter((f) => f.type === "message").length >= 3 && received;
        },
        undefined,
        { timeout: 10_000 },
      );
      const messages = ((await received.jsonValue()) as { type: string; data: unknown }[]).filter(
        (f) => f.type === "message",
      );
      expect(messages.map((m) => m.data)).toEqual([large, small, large]);
    } finally {
      await page.close();
    }
  }, 60_000);
});
