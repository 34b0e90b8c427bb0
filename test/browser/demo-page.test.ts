import { describe, expect } from "vitest";
import { publishWithCli, demoTest as test } from "./browser-stack.js";
import {
  notificationTexts,
  sendWithForm,
  subscribeAs,
  UI_TIMEOUT,
  waitForNotification,
  waitForState,
} from "./demo-page.js";

describe("demo page", () => {
  test("shows notifications published with the CLI and with its own form, with time and channel", async ({
    demo,
    open,
  }) => {
    const { page, errors } = await open();
    await subscribeAs(page, "alice");
    expect(await page.locator("#status-text").textContent()).toBe("Ready");
    expect(await page.locator("#status-detail").textContent()).toContain("user.alice");

    await publishWithCli(demo.nats.url, "alice", "hello from the terminal");
    await waitForNotification(page, "hello from the terminal");
    await sendWithForm(page, "alice", "hello from the form");
    await waitForNotification(page, "hello from the form");

    // Newest first, each with its channel and a time.
    expect(await notificationTexts(page)).toEqual(["hello from the form", "hello from the terminal"]);
    const first = page.locator("#notifications .notification").first();
    expect(await first.locator(".channel").textContent()).toBe("user.alice");
    expect(await first.locator("time").textContent()).toMatch(/\d{1,2}:\d{2}:\d{2}/);
    // A JSON payload arrives as JSON and is shown as its text.
    await publishWithCli(demo.nats.url, "alice", '{"title":"Build finished","ok":true}');
    await waitForNotification(page, '{"title":"Build finished","ok":true}');
    expect(errors).toEqual([]);
  });

  test("shows each user only their own notifications", async ({ demo, open }) => {
    const alice = await open();
    const bob = await open();
    await subscribeAs(alice.page, "alice");
    await subscribeAs(bob.page, "bob");

    await publishWithCli(demo.nats.url, "alice", "for alice only");
    await sendWithForm(bob.page, "bob", "for bob only");
    await waitForNotification(alice.page, "for alice only");
    await waitForNotification(bob.page, "for bob only");
    // A last message to each: once it is there, anything misrouted before it would be there too.
    await sendWithForm(alice.page, "alice", "last for alice");
    await publishWithCli(demo.nats.url, "bob", "last for bob");
    await waitForNotification(alice.page, "last for alice");
    await waitForNotification(bob.page, "last for bob");

    expect(await notificationTexts(alice.page)).toEqual(["last for alice", "for alice only"]);
    expect(await notificationTexts(bob.page)).toEqual(["last for bob", "for bob only"]);
    expect(await bob.page.locator(".channel").allTextContents()).toEqual(["user.bob", "user.bob"]);
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });

  test("shows who is in the lobby, as users arrive and leave on other pages", async ({ open }) => {
    const alice = await open();
    const bob = await open();
    await subscribeAs(alice.page, "alice");
    const members = (page: typeof alice.page) => page.locator("#members .member").allTextContents();
    await expect.poll(() => members(alice.page), { timeout: UI_TIMEOUT }).toEqual(["alice"]);
    await subscribeAs(bob.page, "bob");
    await expect.poll(() => members(alice.page), { timeout: UI_TIMEOUT }).toEqual(["alice", "bob"]);
    await expect.poll(() => members(bob.page), { timeout: UI_TIMEOUT }).toEqual(["alice", "bob"]);
    await bob.page.click("#unsubscribe");
    await expect.poll(() => members(alice.page), { timeout: UI_TIMEOUT }).toEqual(["alice"]);
    expect(await alice.page.locator("#presence-note").textContent()).toBe("bob left");
    expect(await members(bob.page)).toEqual([]);
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });

  test("shows an HTML payload as text: no element is created and no script runs", async ({ demo, open }) => {
    const { page, errors, dialogs } = await open();
    await subscribeAs(page, "alice");
    const payload = "<img src=x onerror=alert(1)>";
    await publishWithCli(demo.nats.url, "alice", payload);
    await sendWithForm(page, "alice", `${payload}<script>alert(2)</script>`);
    await waitForNotification(page, payload);
    await waitForNotification(page, `${payload}<script>alert(2)</script>`);

    expect(await page.locator("#notifications img").count()).toBe(0);
    expect(await page.locator("#notifications script").count()).toBe(0);
    expect(await page.locator("img").count()).toBe(0);
    // Give a handler that should not exist the time to fire before checking nothing did.
    await page.waitForLoadState("networkidle");
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
  });

  test("takes fast clicks while connecting without throwing, and ends with one live connection", async ({
    demo,
    open,
  }) => {
    const { page, errors, sockets } = await open();
    await page.selectOption("#user", "bob");
    // Subscribe / Unsubscribe in one go, before any connection can be ready.
    await page.evaluate(() => {
      const subscribe = document.getElementById("subscribe") as HTMLButtonElement;
      const unsubscribe = document.getElementById("unsubscribe") as HTMLButtonElement;
      subscribe.click();
      subscribe.click();
      unsubscribe.click();
      unsubscribe.click();
      subscribe.click();
    });
    await waitForState(page, "ready");
    expect(await page.locator("#subscribe").isDisabled()).toBe(true);
    expect(await page.locator("#user").isDisabled()).toBe(true);

    // Only the last client is connected: a message arrives once.
    await publishWithCli(demo.nats.url, "bob", "exactly once");
    await waitForNotification(page, "exactly once");
    await sendWithForm(page, "bob", "after it");
    await waitForNotification(page, "after it");
    expect(await notificationTexts(page)).toEqual(["after it", "exactly once"]);

    await page.click("#unsubscribe");
    await waitForState(page, "idle");
    expect(await page.locator("#status-text").textContent()).toBe("Not subscribed");
    expect(await page.locator("#subscribe").isEnabled()).toBe(true);
    // Unsubscribed: nothing more arrives.
    await publishWithCli(demo.nats.url, "bob", "not for a closed page");
    await subscribeAs(page, "bob");
    await sendWithForm(page, "bob", "subscribed again");
    await waitForNotification(page, "subscribed again");
    expect(await notificationTexts(page)).not.toContain("not for a closed page");
    expect(sockets.length).toBeLessThanOrEqual(3);
    expect(errors).toEqual([]);
  });

  test("fits a phone-sized screen without sideways scrolling", async ({ open }) => {
    const { page, errors } = await open({ width: 390, height: 844 });
    await subscribeAs(page, "alice");
    await sendWithForm(page, "alice", "a long message ".repeat(20).trim());
    await waitForNotification(page, "a long message ".repeat(20).trim());
    const widths = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.client);
    for (const id of ["#subscribe", "#unsubscribe", "#notify-send"]) {
      const box = await page.locator(id).boundingBox({ timeout: UI_TIMEOUT });
      expect(box?.height ?? 0).toBeGreaterThanOrEqual(36);
    }
    expect(errors).toEqual([]);
  });
});
