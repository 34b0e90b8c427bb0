import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/gateway/index.js";
import { startTcpBalancer, startTestGateway, type TcpBalancer } from "../../src/testing/index.js";
import { type BrowserStack, startBrowserStack } from "./browser-stack.js";
import { type OpenedPage, openDemoPage, subscribeAs, UI_TIMEOUT } from "./demo-page.js";

/**
 * The demo's bell in headless Chromium: two pages of alice, each on its own gateway (the page's
 * WebSocket URL is a balancer that takes turns between them), get a notification in both, marking
 * it read in one clears the other's badge within a second, and a reload shows the same list and
 * count.
 */
let env: BrowserStack;
let balancer: TcpBalancer;
let second: RunningGateway;
const ports: number[] = [];
const pages: OpenedPage[] = [];

beforeAll(async () => {
  balancer = await startTcpBalancer(() => ports);
  env = await startBrowserStack({ pageGatewayUrl: balancer.url() });
  second = await startTestGateway(env.nats, {
    history: true,
    inbox: true,
    allowedOrigins: [new URL(env.stack.pageUrl).origin],
  });
  ports.push(env.stack.gateway.port, second.port);
}, 120_000);

afterEach(async () => {
  for (const opened of pages.splice(0)) await opened.close().catch(() => undefined);
});

afterAll(async () => {
  await second?.close();
  await env?.stop();
  await balancer?.close();
}, 60_000);

async function open(): Promise<OpenedPage> {
  const opened = await openDemoPage(env.browser, env.stack.pageUrl);
  pages.push(opened);
  return opened;
}

const badge = (page: Page) => page.locator("#bell").getAttribute("data-unread");
const items = (page: Page) => page.locator("#bell-list .bell-text").allTextContents();

async function waitForBadge(page: Page, text: string): Promise<void> {
  await expect.poll(() => badge(page), { timeout: UI_TIMEOUT, interval: 50 }).toBe(text);
}

describe("demo page: the bell", () => {
  it("keeps two pages of alice on two gateways in step, and a reload shows the same inbox", async () => {
    const one = await open();
    await subscribeAs(one.page, "alice");
    const two = await open();
    await subscribeAs(two.page, "alice");
    // One page on each gateway.
    expect(env.stack.gateway.sessionCount).toBeGreaterThanOrEqual(1);
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
