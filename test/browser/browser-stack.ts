import { rm } from "node:fs/promises";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";
import { type LocalStack, type LocalStackOptions, startLocalStack } from "../../src/demo/local-stack.js";
import { type NatsServer, startNats } from "../../src/testing/index.js";
import { runCli } from "../cli/run-cli.js";
import { launchChromium } from "./chromium.js";
import { buildClientBundle } from "./client-bundle.js";
import { type OpenedPage, openDemoPage } from "./demo-page.js";

type Viewport = { width: number; height: number };

export interface BrowserStack {
  readonly nats: NatsServer;
  readonly stack: LocalStack;
  readonly browser: Browser;
  stop(): Promise<void>;
}

/**
 * What `herald start` runs, on free ports against a test nats-server with JetStream, plus a headless
 * chromium: one per test file.
 */
export async function startBrowserStack(options: Partial<LocalStackOptions> = {}): Promise<BrowserStack> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const bundle = await buildClientBundle();
    cleanups.push(() => rm(bundle.dir, { recursive: true, force: true }));
    const nats = await startNats({ jetstream: true });
    cleanups.push(() => nats.stop());
    const stack = await startLocalStack({
      nats: [nats.url],
      port: 0,
      gatewayPort: 0,
      logLevel: "silent",
      clientBundle: bundle.file,
      onLog: () => undefined,
      ...options,
    });
    cleanups.push(() => stack.stop());
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    return { nats, stack, browser, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `herald publish <user> <message> --nats <url>`, run from the sources like a person would in a terminal. */
export async function publishWithCli(natsUrl: string, user: string, message: string): Promise<void> {
  const result = await runCli(["publish", user, message, "--nats", natsUrl], {}, 30_000);
  if (result.code !== 0) throw new Error(`herald publish failed (${result.code}): ${result.stderr}`);
}

/**
 * For a test file of the demo page: the stack started once before its tests and stopped after
 * them, and demo pages opened per test and closed after each.
 */
export function useDemoBrowser(): {
  readonly env: BrowserStack;
  open(viewport?: Viewport): Promise<OpenedPage>;
} {
  let started: BrowserStack | undefined;
  const pages: OpenedPage[] = [];
  beforeAll(async () => {
    started = await startBrowserStack();
  }, 120_000);
  afterAll(async () => {
    await started?.stop();
  }, 60_000);
  afterEach(async () => {
    for (const opened of pages.splice(0)) await opened.close().catch(() => undefined);
  });
  const stack = (): BrowserStack => {
    if (!started) throw new Error("the browser stack is not started yet");
    return started;
  };
  return {
    get env() {
      return stack();
    },
    async open(viewport) {
      const opened = await openDemoPage(stack().browser, stack().stack.pageUrl, viewport);
      pages.push(opened);
      return opened;
    },
  };
}
