import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { describe, expect } from "vitest";
import { type LocalStack, startLocalStack } from "../../src/demo/local-stack.js";
import { freePort, waitUntil } from "../../src/testing/index.js";
import { stackTest } from "../fixtures.js";
import type { Launcher } from "../launcher.js";
import { launchChromium } from "./chromium.js";
import { buildClientBundle } from "./client-bundle.js";
import {
  notificationTexts,
  type OpenedPage,
  openDemoPage,
  sendWithForm,
  subscribeAs,
  UI_TIMEOUT,
  waitForNotification,
  waitForState,
} from "./demo-page.js";

/**
 * The demo page in Chromium, reaching its gateway through nginx set up as a corporate proxy that
 * blocks WebSockets: HTTP/1.0 to the gateway, no `Upgrade` passed on, responses buffered unless the
 * response says otherwise. The page falls back to HTTP-streaming (or, forced, SSE) and does all it
 * does over a WebSocket: ready, notifications, a room, a call to the backend, and a gateway restart
 * recovered exactly once. And curl reads a user's notifications through the same proxy.
 */
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path)) ?? "nginx";
const ROOT = join(import.meta.dirname, "../..");

/** nginx as a blocking proxy in front of one gateway port, every path inside `dir`. */
function blockingProxyConfig(dir: string, listenPort: number, gatewayPort: number): string {
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(
    (kind) => `  ${kind}_temp_path ${join(dir, kind)};`,
  );
  return [
    "daemon off;",
    "master_process off;",
    `pid ${join(dir, "nginx.pid")};`,
    "error_log stderr warn;",
    "events { worker_connections 256; }",
    "http {",
    "  access_log off;",
    ...temp,
    "  server {",
    `    listen 127.0.0.1:${listenPort};`,
    "    location / {",
    // nginx's defaults are the blocking proxy: HTTP/1.0 upstream, hop-by-hop Upgrade and Connection
    // dropped, proxy_buffering on.
    `      proxy_pass http://127.0.0.1:${gatewayPort};`,
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");
}

async function startNginx(dir: string, listenPort: number, launch: Launcher): Promise<void> {
  let output = "";
  const child = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", "stderr"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  launch.own(child, async (nginx) => {
    if (nginx.exitCode !== null || nginx.signalCode !== null) return;
    const exited = new Promise((resolve) => nginx.once("exit", resolve));
    nginx.kill("SIGTERM");
    await exited;
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${output}`);
      return fetch(`http://127.0.0.1:${listenPort}/healthz`).then(
        (response) => response.ok,
        () => false,
      );
    },
    "nginx in front of the gateway",
    { timeoutMs: 20_000 },
  );
}

interface BlockedStack {
  readonly stack: LocalStack;
  readonly browser: Browser;
  /** `http://127.0.0.1:<nginx>/ws`: the gateway as the page reaches it. */
  readonly gateway: string;
}

const test = stackTest.extend<{ blocked: BlockedStack; open: (query?: string) => Promise<OpenedPage> }>({
  blocked: [
    async ({ nats, launchForFile }, use) => {
      const bundle = launchForFile.own(await buildClientBundle(), (built) =>
        rm(built.dir, { recursive: true, force: true }),
      );
      const proxyPort = await freePort();
      const stack = launchForFile.own(
        await startLocalStack({
          nats: [nats.url],
          port: 0,
          gatewayPort: 0,
          logLevel: "silent",
          clientBundle: bundle.file,
          pageGatewayUrl: `ws://127.0.0.1:${proxyPort}/ws`,
          onLog: () => undefined,
        }),
        (started) => started.stop(),
      );
      const dir = launchForFile.own(await mkdtemp(join(tmpdir(), "herald-blocking-")), (made) =>
        rm(made, { recursive: true, force: true }),
      );
      await writeFile(join(dir, "nginx.conf"), blockingProxyConfig(dir, proxyPort, stack.gateway.port));
      await startNginx(dir, proxyPort, launchForFile);
      const browser = launchForFile.own(await launchChromium(), (launched) => launched.close());
      await use({ stack, browser, gateway: `http://127.0.0.1:${proxyPort}/ws` });
    },
    { scope: "file" },
  ],
  open: async ({ blocked, launch }, use) => {
    await use(async (query = "") =>
      launch.own(await openDemoPage(blocked.browser, `${blocked.stack.pageUrl}${query}`), (opened) =>
        opened.close().catch(() => undefined),
      ),
    );
  },
});

/**
 * What Chromium reports on the console itself and is the proxy's doing: the WebSocket it refused,
 * and the attempts while the gateway restarts, which nginx answers 502 itself, without the gateway's
 * CORS headers.
 */
const PROXY_ERRORS = [
  /^WebSocket connection to '.*' failed/,
  /status of 404 \(Not Found\)/,
  /status of 502 \(Bad Gateway\)/,
  /has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present/,
  /^Failed to load resource: net::ERR_FAILED$/,
];

function pageErrors(errors: readonly string[]): string[] {
  return errors.filter((e) => !PROXY_ERRORS.some((known) => known.test(e)));
}

async function roomState(page: Page, state: string): Promise<void> {
  await page.locator(`#room-status[data-state="${state}"]`).waitFor({ timeout: UI_TIMEOUT });
}

/** Everything the page does over a WebSocket, over `transport` through the blocking proxy. */
async function everythingOver(opened: OpenedPage, blocked: BlockedStack, transport: string): Promise<void> {
  const { page } = opened;
  await subscribeAs(page, "alice");
  expect(await page.locator("#transport").textContent()).toBe(transport);
  await sendWithForm(page, "alice", `over ${transport}`);
  await waitForNotification(page, `over ${transport}`);

  await page.selectOption("#room", "chat");
  await page.click("#room-join");
  await roomState(page, "subscribed");
  await page.fill("#room-message", "hello chat");
  await page.click("#room-send");
  await waitForNotification(page, "hello chat");

  await page.locator("#rpc-time:not([disabled])").waitFor({ timeout: UI_TIMEOUT });
  await page.click("#rpc-time");
  await expect
    .poll(() => page.locator("#backend-result").textContent(), { timeout: UI_TIMEOUT })
    .toMatch(/^Server time .*, asked as alice\.$/);

  await blocked.stack.restartGateway(async () => {
    await expect.poll(() => opened.states(), { timeout: UI_TIMEOUT }).toContain("reconnecting");
    await sendWithForm(page, "alice", "while the gateway was down");
  });
  await waitForState(page, "ready");
  await waitForNotification(page, "while the gateway was down");
  await sendWithForm(page, "alice", "after the restart");
  await waitForNotification(page, "after the restart");
  expect(await notificationTexts(page)).toEqual([
    "after the restart",
    "while the gateway was down",
    "hello chat",
    `over ${transport}`,
  ]);
  expect(await page.locator("#transport").textContent()).toBe(transport);
  expect(pageErrors(opened.errors)).toEqual([]);
}

describe("the demo page behind a proxy that blocks WebSockets", () => {
  test("falls back to HTTP-streaming: ready, notifications, a room, rpc, and a restart recovered once", async ({
    open,
    blocked,
  }) => {
    const opened = await open();
    await everythingOver(opened, blocked, "HTTP-streaming");
    // The WebSocket was tried first, once: the page then remembered what worked.
    expect(opened.sockets).toEqual([`${blocked.gateway.replace("http", "ws")}`]);
  });

  test("does the same over server-sent events when they are forced (?transports=sse)", async ({
    open,
    blocked,
  }) => {
    const opened = await open("?transports=sse");
    await everythingOver(opened, blocked, "Server-sent events");
    expect(opened.sockets).toEqual([]);
  });

  test("curl reads a user's notifications through the proxy with an SSE ticket (examples/sse/read-with-curl.sh)", async ({
    blocked,
    launch,
  }) => {
    const login = await fetch(new URL("/api/login", blocked.stack.pageUrl), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "bob" }),
    });
    const { token } = (await login.json()) as { token: string };
    const script = spawn("bash", [join(ROOT, "examples/sse/read-with-curl.sh")], {
      env: { ...process.env, GATEWAY: blocked.gateway, TOKEN: token },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    launch.own(script, async (child) => {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid, "SIGTERM");
      await exited;
    });
    let output = "";
    script.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitUntil(() => output.includes('"type":"ready"'), "ready from curl", { timeoutMs: UI_TIMEOUT });
    const notify = await fetch(new URL("/api/notify", blocked.stack.pageUrl), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "bob", message: "for curl" }),
    });
    expect(notify.ok).toBe(true);
    await waitUntil(() => output.includes("for curl"), "the message in curl's output", {
      timeoutMs: UI_TIMEOUT,
    });
  });
});
