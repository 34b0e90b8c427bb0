import { rm } from "node:fs/promises";
import type { Browser } from "playwright-core";
import { type LocalStack, startLocalStack } from "../../src/demo/local-stack.js";
import type { NatsServer } from "../../src/testing/index.js";
import { runCli } from "../cli/run-cli.js";
import { stackTest } from "../fixtures.js";
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
      const bundle = launchForFile.own(await buildClientBundle(), (built) =>
        rm(built.dir, { recursive: true, force: true }),
      );
      const stack = launchForFile.own(
        await startLocalStack({
          nats: [nats.url],
          port: 0,
          gatewayPort: 0,
          logLevel: "silent",
          clientBundle: bundle.file,
          onLog: () => undefined,
        }),
        (started) => started.stop(),
      );
      const browser = launchForFile.own(await launchChromium(), (launched) => launched.close());
      await use({ nats, stack, browser });
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

/** `herald publish <user> <message> --nats <url>`, run from the sources like a person would in a terminal. */
export async function publishWithCli(natsUrl: string, user: string, message: string): Promise<void> {
  const result = await runCli(["publish", user, message, "--nats", natsUrl], {}, 30_000);
  if (result.code !== 0) throw new Error(`herald publish failed (${result.code}): ${result.stderr}`);
}
