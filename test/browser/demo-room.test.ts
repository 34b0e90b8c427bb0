import type { Page } from "playwright-core";
import { describe, expect } from "vitest";
import { demoTest as test } from "./browser-stack.js";
import {
  notificationTexts,
  sendWithForm,
  subscribeAs,
  UI_TIMEOUT,
  waitForNotification,
} from "./demo-page.js";

async function roomState(page: Page, state: string): Promise<void> {
  await page.locator(`#room-status[data-state="${state}"]`).waitFor({ timeout: UI_TIMEOUT });
}

async function join(page: Page, room: string): Promise<void> {
  await page.selectOption("#room", room);
  await page.click("#room-join");
}

/** Sends with the room card's form and waits for the app to confirm it. */
async function sendToRoom(page: Page, message: string): Promise<void> {
  await page.fill("#room-message", message);
  await page.click("#room-send");
  await expect
    .poll(() => page.locator("#room-result").textContent(), { timeout: UI_TIMEOUT })
    .toMatch(/^Sent to /);
}

describe("demo page: a room", () => {
  test("joins the chat room, shows its messages with their channel, leaves, and gets no more", async ({
    open,
  }) => {
    const { page, errors } = await open();
    expect(await page.locator("#room-join").isDisabled()).toBe(true); // not before the page is subscribed
    await subscribeAs(page, "alice");
    await join(page, "chat");
    await roomState(page, "subscribed");
    expect(await page.locator("#room-status-text").textContent()).toBe("In the room");
    expect(await page.locator("#room").isDisabled()).toBe(true);

    await sendToRoom(page, "hello chat");
    await waitForNotification(page, "hello chat");
    const item = page.locator("#notifications .notification").first();
    expect(await item.locator(".channel").textContent()).toBe("channel.chat");

    await page.click("#room-leave");
    await roomState(page, "idle");
    await sendToRoom(page, "after leaving");
    // A personal message sent after it: once it shows, the room message would have too.
    await sendWithForm(page, "alice", "personal, after the room message");
    await waitForNotification(page, "personal, after the room message");
    expect(await notificationTexts(page)).toEqual(["personal, after the room message", "hello chat"]);
    expect(await page.locator("#status-text").textContent()).toBe("Ready");
    expect(errors).toEqual([]);
  });

  test("shows the backend's refusal of a room the user may not join; the connection stays ready", async ({
    open,
  }) => {
    const { page, errors } = await open();
    await subscribeAs(page, "bob");
    await join(page, "staff");
    await expect
      .poll(() => page.locator("#room-error").textContent(), { timeout: UI_TIMEOUT })
      .toContain("SUBSCRIBE_REFUSED (not_a_member)");
    await roomState(page, "idle");
    expect(await page.locator("#room-join").isEnabled()).toBe(true);
    expect(await page.locator("#status-text").textContent()).toBe("Ready");
    // the chat room is open to bob
    await join(page, "chat");
    await roomState(page, "subscribed");
    expect(await page.locator("#room-error").isHidden()).toBe(true);
    expect(errors).toEqual([]);
  });

  test("lets go of the room when the page unsubscribes, and joins again after subscribing again", async ({
    open,
  }) => {
    const { page, errors } = await open();
    await subscribeAs(page, "alice");
    await join(page, "staff");
    await roomState(page, "subscribed");
    await page.click("#unsubscribe");
    await roomState(page, "idle");
    expect(await page.locator("#room-join").isDisabled()).toBe(true);
    await subscribeAs(page, "alice");
    await join(page, "staff");
    await roomState(page, "subscribed");
    await sendToRoom(page, "staff only");
    await waitForNotification(page, "staff only");
    expect(errors).toEqual([]);
  });
});
