import type { Browser, Page } from "playwright-core";
import { describe, expect } from "vitest";
import type { LocalStack } from "../../src/demo/local-stack.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { startTcpBalancer } from "../../src/testing/index.js";
import { stackTest } from "../fixtures.js";
import { startDemoStack } from "./browser-stack.js";
import { type OpenedPage, openDemoPage, subscribeAs, UI_TIMEOUT } from "./demo-page.js";

/**
 * The demo's bell in headless Chromium: two pages of alice, each on its own gateway (the page's
 * WebSocket URL is a balancer that takes turns between them), get a notification in both, marking
 * it read in one clears the other's badge within a second, and a reload shows the same list and
 * count.
 */
const test = stackTest.extend<{
  bells: { stack: LocalStack; second: RunningGateway; browser: Browser };
  open: () => Promise<OpenedPage>;
}>({
  bells: [
    async ({ nats, launchForFile }, use) => {
      const ports: number[] = [];
      const balancer = launchForFile.own(await startTcpBalancer(() => ports), (b) => b.close());
      const { stack, browser } = await startDemoStack(launchForFile, nats.url, {
        pageGatewayUrl: balancer.url(),
      });
      const second = await launchForFile.gateway(nats, {
        history: true,
        inbox: true,
        allowedOrigins: [new URL(stack.pageUrl).origin],
      });
      ports.push(stack.gateway.port, second.port);
      await use({ stack, second, browser });
    },
    { scope: "file" },
  ],
  open: async ({ bells, launch }, use) => {
    await use(async () =>
      launch.own(await openDemoPage(bells.browser, bells.stack.pageUrl), (opened) =>
        opened.close().catch(() => undefined),
      ),
    );
  },
});

const badge = (page: Page) => page.locator("#bell").getAttribute("data-unread");
const items = (page: Page) => page.locator("#bell-list .bell-text").allTextContents();

async function waitForBadge(page: Page, text: string): Promise<void> {
  await expect.poll(() => badge(page), { timeout: UI_TIMEOUT, interval: 50 }).toBe(text);
}

describe("demo page: the bell", () => {
  test("keeps two pages of alice on two gateways in step, and a reload shows the same inbox", async ({
    bells: { stack, second },
    open,
  }) => {
    const one = await open();
    await subscribeAs(one.page, "alice");
    const two = await open();
    await subscribeAs(two.page, "alice");
    // One page on each gateway.
    expect(stack.gateway.sessionCount).toBeGreaterThanOrEqual(1);
    expect(second.sessionCount).toBeGreaterThanOrEqual(1);
    const before = Number(await badge(one.page));

    await one.page.click("#inbox-send-alice");
    await expect
      .poll(() => one.page.locator("#inbox-send-result").textContent(), { timeout: UI_TIMEOUT })
      .toMatch(/^Sent to alice's inbox as notification \d+\.$/);
    await waitForBadge(one.page, String(before + 1));
    await waitForBadge(two.page, String(before + 1));

    // Opening the bell lists it (and marks it seen); clicking it marks it read.
    await two.page.click("#bell");
    await expect
      .poll(() => items(two.page), { timeout: UI_TIMEOUT })
      .toContainEqual(expect.stringMatching(/^A notification for alice, sent at /));
    const watching = one.page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const bell = document.getElementById("bell") as HTMLElement;
          const start = bell.dataset.unread;
          new MutationObserver(() => {
            if (bell.dataset.unread !== start) resolve(Date.now());
          }).observe(bell, { attributes: true, attributeFilter: ["data-unread"] });
        }),
    );
    const clickedAt = Date.now();
    await two.page.locator("#bell-list .bell-text").first().click();
    const clearedAt = await watching;
    expect(await badge(one.page)).toBe(String(before));
    console.info(`mark read in one page → the other page's badge: ${clearedAt - clickedAt} ms`);
    expect(clearedAt - clickedAt).toBeLessThan(1000);

    // A reload of the first page: the same list and count, from the gateways.
    const listed = await items(two.page);
    await one.page.reload();
    await subscribeAs(one.page, "alice");
    await waitForBadge(one.page, String(before));
    await one.page.click("#bell");
    await expect.poll(() => items(one.page), { timeout: UI_TIMEOUT }).toEqual(listed);

    // Mark all read in one page: both badges clear.
    await one.page.click("#inbox-send-alice");
    await waitForBadge(two.page, String(before + 1));
    await two.page.click("#bell-mark-all");
    await waitForBadge(one.page, "0");
    await waitForBadge(two.page, "0");
    expect(one.errors).toEqual([]);
    expect(two.errors).toEqual([]);
  });
});
