import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer, type Server, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollFor } from "../../src/testing/index.js";
import { launchChromium } from "./chromium.js";
import { buildClientBundle } from "./client-bundle.js";
import {
  type OpenedPage,
  openDemoPage,
  sendWithForm,
  subscribeAs,
  waitForNotification,
} from "./demo-page.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "src/cli/main.ts");
// By URL: the commands run in a scratch folder, where a bare `--import tsx` would not resolve.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const SCREENSHOT = join(ROOT, "docs/demo.png");

interface Herald {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `herald <args>` from the sources, in `cwd`, without any HERALD_* variable of the caller. */
function herald(args: readonly string[], cwd: string): Herald {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("HERALD_")));
  const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exited };
}

function waitForOutput(process: Herald, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const match = () => {
    const found = process.output().match(pattern);
    if (!found && process.child.exitCode !== null)
      throw new Error(`herald exited early:\n${process.output()}`);
    return found ?? undefined;
  };
  return pollFor(match, String(pattern), { timeoutMs, intervalMs: 100 }).catch((err: Error) => {
    throw new Error(`${err.message}:\n${process.output()}`);
  });
}

function canConnect(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: hostname, port: Number(port) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

let workDir: string;
let bundle: { file: string; fallbacks: string; dir: string };
let browser: Browser;
let busy: Server;
let start: Herald | undefined;
let opened: OpenedPage | undefined;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "herald-start-"));
  bundle = await buildClientBundle();
  browser = await launchChromium();
  // A port someone else holds, to see `herald start` move aside.
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
}, 120_000);

afterAll(async () => {
  await opened?.close().catch(() => undefined);
  if (start && start.child.exitCode === null && start.child.signalCode === null) {
    start.child.kill("SIGKILL");
    await start.exited;
  }
  await browser?.close();
  await new Promise((resolve) => busy?.close(resolve));
  await rm(workDir, { recursive: true, force: true });
  await rm(bundle?.dir ?? "", { recursive: true, force: true });
}, 60_000);

describe("herald start", () => {
  it("runs NATS, a gateway and the demo; the page gets `herald publish`; Ctrl-C stops everything", async () => {
    const busyPort = (busy.address() as { port: number }).port;
    start = herald(["start", "--port", String(busyPort), "--gateway-port", "0"], workDir);
    const [, pageUrl = ""] = await waitForOutput(start, /Open\s+(http:\/\/\S+)/);
    const [, natsUrl = ""] = await waitForOutput(start, /NATS\s+(nats:\/\/\S+) \(embedded nats-server/);
    expect(start.output()).toMatch(
      new RegExp(`port ${busyPort} is in use; the demo page uses port \\d+ instead`),
    );
    expect(start.output()).toContain('npx herald publish alice "hello!"');
    expect((await readFile(join(workDir, ".herald/nats-url"), "utf8")).trim()).toBe(natsUrl);

    opened = await openDemoPageWithBundle(pageUrl);
    const { page } = opened;
    expect(await page.locator("#terminal-command").textContent()).toBe('npx herald publish alice "hello!"');
    await subscribeAs(page, "alice");

    // Another terminal in the same folder, no flags: publish finds the embedded NATS by itself.
    const publish = herald(["publish", "alice", "hello!"], workDir);
    const published = await publish.exited;
    expect(published.code, publish.output()).toBe(0);
    await waitForNotification(page, "hello!");

    await sendWithForm(page, "alice", "Lunch is ready in the kitchen");
    await waitForNotification(page, "Lunch is ready in the kitchen");
    const json = herald(["publish", "alice", '{"title":"Build finished","status":"passed"}'], workDir);
    expect((await json.exited).code, json.output()).toBe(0);
    await waitForNotification(page, '{"title":"Build finished","status":"passed"}');
    await sendWithForm(page, "bob", "Not for alice");
    await sendWithForm(page, "alice", "Deploy of v1.4 started");
    await waitForNotification(page, "Deploy of v1.4 started");
    await page.fill("#notify-message", "See you at 3");
    // The README's picture: written when missing or asked for, so a test run leaves the tree clean.
    const shot =
      existsSync(SCREENSHOT) && !process.env.HERALD_UPDATE_SCREENSHOT
        ? join(workDir, "demo.png")
        : SCREENSHOT;
    await page.screenshot({ path: shot, fullPage: true, animations: "disabled" });
    expect(existsSync(shot)).toBe(true);
    expect(opened.errors).toEqual([]);

    start.child.kill("SIGINT");
    const exit = await Promise.race([
      start.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("not stopped in 30 s")), 30_000)),
    ]);
    expect(exit, start.output()).toEqual({ code: 0, signal: null });
    expect(start.output()).toContain("stopped");
    // nats-server went with it, and so did the file pointing at it.
    expect(await canConnect(natsUrl)).toBe(false);
    expect(await canConnect(pageUrl)).toBe(false);
    expect(existsSync(join(workDir, ".herald/nats-url"))).toBe(false);
  });

  it("exits with a usage error on a bad flag", async () => {
    const run = herald(["start", "--port", "70000"], workDir);
    expect((await run.exited).code).toBe(2);
    expect(run.output()).toContain('invalid --port "70000": must be at most 65535');
  });
});

/** The demo page, given the client bundle of the sources under test: dist/ may predate them. */
function openDemoPageWithBundle(pageUrl: string): Promise<OpenedPage> {
  return openDemoPage(browser, pageUrl, { width: 1180, height: 760 }, async (context) => {
    await context.route("**/herald-client.min.js", (route) =>
      route.fulfill({ path: bundle.file, contentType: "text/javascript; charset=utf-8" }),
    );
    await context.route("**/herald-client-fallbacks.min.js", (route) =>
      route.fulfill({ path: bundle.fallbacks, contentType: "text/javascript; charset=utf-8" }),
    );
  });
}
