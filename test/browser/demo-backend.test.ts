import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import type { RpcRequest } from "../../src/protocol/index.js";
import { demoTest as test } from "./browser-stack.js";
import {
  type OpenedPage,
  sendWithForm,
  subscribeAs,
  UI_TIMEOUT,
  waitForNotification,
  waitForState,
} from "./demo-page.js";

const resultText = (opened: OpenedPage) => opened.page.locator("#backend-result").textContent();

/** The demo page's "Ask the backend" card in headless Chromium: client.rpc and sign out everywhere. */
describe("demo page: ask the backend", () => {
  test("asks the server time over the page's own WebSocket", async ({ demo, open, launch }) => {
    const opened = await open();
    const { page } = opened;
    expect(await page.locator("#rpc-time").isDisabled()).toBe(true); // no connection yet
    await subscribeAs(page, "alice");
    await page.locator("#rpc-time:not([disabled])").waitFor({ timeout: UI_TIMEOUT });
    const observer = launch.own(await connect({ servers: demo.nats.url }), (opened) => opened.close());
    const calls: RpcRequest[] = [];
    observer.subscribe("herald.rpc.time", {
      callback: (_err, msg) => {
        calls.push(msg.json<RpcRequest>());
      },
    });
    await observer.flush();
    await page.click("#rpc-time");
    await expect
      .poll(() => resultText(opened), { timeout: UI_TIMEOUT })
      .toMatch(/^Server time \d{1,2}:\d{2}:\d{2}.*, asked as alice\.$/);
    // the call went from the page's socket through the gateway to herald.rpc.time, as alice
    expect(calls.map((request) => request.user)).toEqual(["alice"]);
    expect(opened.sockets).toHaveLength(1);
    expect(opened.errors).toEqual([]);
  });

  test("signs a user out on every page; other users' pages stay connected", async ({ open }) => {
    const alice1 = await open();
    const alice2 = await open();
    const bob = await open();
    await subscribeAs(alice1.page, "alice");
    await subscribeAs(alice2.page, "alice");
    await subscribeAs(bob.page, "bob");

    await alice1.page.click("#sign-out-everywhere");
    await expect
      .poll(() => resultText(alice1), { timeout: UI_TIMEOUT })
      .toBe("alice is signed out on every page.");
    for (const opened of [alice1, alice2]) {
      await waitForState(opened.page, "closed");
      const error = opened.page.locator("#error");
      expect(await error.getAttribute("data-code")).toBe("DISCONNECTED");
      expect(await error.textContent()).toContain('signed out everywhere"');
      expect(await error.textContent()).toContain("close 4430");
      // stopped for good: no reconnect attempt follows
      expect(await opened.states()).not.toContain("reconnecting");
    }
    // bob is still there, and still receives
    expect(await bob.page.locator("#status").getAttribute("data-state")).toBe("ready");
    await sendWithForm(bob.page, "bob", "still here");
    await waitForNotification(bob.page, "still here");
    // alice can sign in again: a new token, a new connection
    await subscribeAs(alice2.page, "alice");
    await sendWithForm(alice2.page, "alice", "welcome back");
    await waitForNotification(alice2.page, "welcome back");
    expect([...alice1.errors, ...alice2.errors, ...bob.errors]).toEqual([]);
  });
});
