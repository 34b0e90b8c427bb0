import { rm } from "node:fs/promises";
import type { Browser } from "playwright-core";
import { type LocalStack, type LocalStackOptions, startLocalStack } from "../../src/demo/local-stack.js";
import type { NatsServer } from "../../src/testing/index.js";
import { runCli } from "../cli/run-cli.js";
import { stackTest } from "../fixtures.js";
import type { Launcher } from "../launcher.js";
import { launchChromium } from "./chromium.js";
import { buildClientBundle } from "./client-bundle.js";
import { type OpenedPage, openDemoPage } from "./demo-page.js";

type Viewport = { width: number; height: number };

/** What `herald start` runs, on free ports against the file's nats-server, plus a headless chromium. */
export interface DemoStack {
  readonly nats: NatsServer;
  readonly stack: LocalStack;
  readonly browser: Browser;
}

/**
 * For a test file of the demo page: the demo's stack and chromium started once for the file
 * (`demo`), and demo pages opened per test and closed after each (`open`).
 */
export const demoTest = stackTest.extend<{
  demo: DemoStack;
  open: (viewport?: Viewport) => Promise<OpenedPage>;
}>({
  demo: [
    async ({ nats, launchForFile }, use) => {
      await use({ nats, ...(await startDemoStack(launchForFile, nats.url)) });
    },
    { scope: "file" },
  ],
  open: async ({ demo, launch }, use) => {
    await use(async (viewport) =>
      launch.own(await openDemoPage(demo.browser, demo.stack.pageUrl, viewport), (opened) =>
        opened.close().catch(() => undefined),
      ),
    );
  },
});

/**
 * The demo's stack (`herald start`'s parts, on free ports against `natsUrl`, with the client bundle
 * built from the sources) and a headless chromium, owned by `launcher`; `options` add to or change
 * the stack's.
 */
export async function startDemoStack(
  launcher: Launcher,
  natsUrl: string,
  options: Partial<LocalStackOptions> = {},
): Promise<{ stack: LocalStack; browser: Browser }> {
  const bundle = launcher.own(await buildClientBundle(), (built) =>
    rm(built.dir, { recursive: true, force: true }),
  );
  const stack = launcher.own(
    await startLocalStack({
      nats: [natsUrl],
      port: 0,
      gatewayPort: 0,
      logLevel: "silent",
      clientBundle: bundle.file,
      onLog: () => undefined,
      ...options,
    }),
    (started) => started.stop(),
  );
  const browser = launcher.own(await launchChromium(), (launched) => launched.close());
  return { stack, browser };
}

/** `herald publish <user> <message> --nats <url>`, run from the sources like a person would in a terminal. */
export async function publishWithCli(natsUrl: string, user: string, message: string): Promise<void> {
  const result = await runCli(["publish", user, message, "--nats", natsUrl], {}, 30_000);
  if (result.code !== 0) throw new Error(`herald publish failed (${result.code}): ${result.stderr}`);
}
