import { describe, expect } from "vitest";
import { HeraldBackend } from "../../src/backend/index.js";
import { pollFor } from "../../src/testing/index.js";
import { stackTest as test } from "../fixtures.js";
import { startDemoStack } from "./browser-stack.js";
import { openDemoPage, subscribeAs, UI_TIMEOUT } from "./demo-page.js";

/**
 * A page opened after an absence shows what the inbox retains: with `--inbox-max-age` of 8 s
 * standing in for the 90 days, a notification older than that is gone from the bell, a newer one
 * is there; and a page left open while that one expires too sees the badge and the list empty.
 */
describe("demo page: the bell after an absence", () => {
  test("shows only what is retained", async ({ nats, launch }) => {
    const { stack, browser } = await startDemoStack(launch, nats.url, {
      gatewayEnv: { HERALD_INBOX_MAX_AGE: "8" },
    });
    const backend = launch.own(await HeraldBackend.connect({ servers: nats.url }), (b) => b.close());
    await backend.notify("alice", { text: "from before the absence" });
    // The absence: the old one expires; one sent since is kept (5 s more, for the page to open).
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await backend.notify("alice", { text: "from yesterday evening" });
    await pollFor(
      async () => ((await backend.inbox("alice")).items.length === 1 ? true : undefined),
      "the old notification to expire",
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    const { page, errors } = launch.own(await openDemoPage(browser, stack.pageUrl), (opened) =>
      opened.close().catch(() => undefined),
    );
    await subscribeAs(page, "alice");
    await expect
      .poll(() => page.locator("#bell").getAttribute("data-unread"), { timeout: UI_TIMEOUT })
      .toBe("1");
    await page.click("#bell");
    await expect
      .poll(() => page.locator("#bell-list .bell-text").allTextContents(), { timeout: UI_TIMEOUT })
      .toEqual(["from yesterday evening"]);
    // The page stays open: when the newer one turns 8 s old, the gateway says so, and the bell follows.
    await expect
      .poll(() => page.locator("#bell").getAttribute("data-unread"), { timeout: UI_TIMEOUT })
      .toBe("0");
    await expect.poll(() => page.locator("#bell-list .bell-text").count(), { timeout: UI_TIMEOUT }).toBe(0);
    expect(errors).toEqual([]);
  });
});
