import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect } from "vitest";
import { demoTest as test } from "./browser-stack.js";
import {
  notificationTexts,
  sendWithForm,
  subscribeAs,
  UI_TIMEOUT,
  waitForNotification,
  waitForState,
} from "./demo-page.js";

/** Chromium reports a refused WebSocket connection on the console itself; that is expected here. */
function pageErrors(errors: readonly string[]): string[] {
  return errors.filter((e) => !/^WebSocket connection to '.*' failed/.test(e));
}

describe("demo page when things fail", () => {
  test("shows reconnecting while the gateway restarts, then ready again, and gets what it missed", async ({
    demo,
    open,
  }) => {
    const opened = await open();
    const { page } = opened;
    // bob has received nothing yet: his position comes from the gateway's ready frame alone.
    const bob = await open();
    await subscribeAs(page, "alice");
    await subscribeAs(bob.page, "bob");
    await sendWithForm(page, "alice", "before the restart");
    await waitForNotification(page, "before the restart");
    const port = demo.stack.gateway.port;

    await demo.stack.restartGateway(async () => {
      await expect.poll(() => opened.states(), { timeout: UI_TIMEOUT }).toContain("reconnecting");
      await expect.poll(() => bob.states(), { timeout: UI_TIMEOUT }).toContain("reconnecting");
      // Published while no gateway runs: the history stream keeps them for the reconnect.
      await sendWithForm(page, "alice", "while the gateway was down");
      await sendWithForm(page, "bob", "bob's while the gateway was down");
    });
    expect(demo.stack.gateway.port).toBe(port);

    await waitForState(page, "ready");
    await waitForNotification(page, "while the gateway was down");
    await waitForState(bob.page, "ready");
    await waitForNotification(bob.page, "bob's while the gateway was down");
    expect(await notificationTexts(bob.page)).toEqual(["bob's while the gateway was down"]);
    await sendWithForm(page, "alice", "after the restart");
    await waitForNotification(page, "after the restart");
    expect(await notificationTexts(page)).toEqual([
      "after the restart",
      "while the gateway was down",
      "before the restart",
    ]);

    const states = await opened.states();
    const firstReady = states.indexOf("ready");
    const reconnecting = states.indexOf("reconnecting", firstReady);
    expect(firstReady).toBeGreaterThanOrEqual(0);
    expect(reconnecting).toBeGreaterThan(firstReady);
    expect(states.at(-1)).toBe("ready");
    expect(await page.locator("#error").isHidden()).toBe(true);
    expect(pageErrors([...opened.errors, ...bob.errors])).toEqual([]);
  });

  test("shows a refused token's error and stops instead of retrying", async ({ open }) => {
    const opened = await open();
    const { page } = opened;
    let logins = 0;
    // The app hands out a token the backend never issued: the gateway's auth request is refused.
    await page.route("**/api/login", async (route) => {
      logins++;
      await route.fulfill({
        json: { token: "forged-token-not-issued-by-the-app", user: "alice", expiresAt: Date.now() + 60_000 },
      });
    });
    await page.selectOption("#user", "alice");
    await page.click("#subscribe");

    await waitForState(page, "closed");
    const error = page.locator("#error");
    await error.waitFor({ state: "visible", timeout: UI_TIMEOUT });
    expect(await error.getAttribute("data-code")).toBe("AUTH_REFUSED");
    const text = (await error.textContent()) ?? "";
    expect(text).toContain("AUTH_REFUSED");
    expect(text).toContain("invalid_token");
    expect(text).toContain("4401");
    expect(await page.locator("#status-text").textContent()).toBe("Stopped");
    expect(await page.locator("#subscribe").isEnabled()).toBe(true);

    // A retrying client would have reconnected several times within this window (backoff starts at 500 ms).
    await sleep(3000);
    expect(opened.sockets).toHaveLength(1);
    expect(logins).toBe(1);
    expect(await opened.states()).not.toContain("reconnecting");
    expect(await page.locator("#status").getAttribute("data-state")).toBe("closed");

    // Once the application asks again with a valid token, it connects.
    await page.unroute("**/api/login");
    await subscribeAs(page, "alice");
    expect(await error.isHidden()).toBe(true);
    expect(pageErrors(opened.errors)).toEqual([]);
  });
});
