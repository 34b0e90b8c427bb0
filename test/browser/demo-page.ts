import type { Browser, BrowserContext, Page } from "playwright-core";
import { expect } from "vitest";

/** Generous: two cores may be running chromium, nats-server, a gateway and another test file at once. */
export const UI_TIMEOUT = 20_000;

export interface OpenedPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** console.error output and uncaught exceptions of the page. */
  readonly errors: string[];
  /** alert/confirm/prompt dialogs that appeared (each is dismissed). */
  readonly dialogs: string[];
  /** WebSockets the page opened, by URL, in order. */
  readonly sockets: string[];
  /** Every data-state the status indicator showed, in order (recorded in the page). */
  states(): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens the demo page in a fresh context and records what a test asserts on afterwards. */
export async function openDemoPage(
  browser: Browser,
  url: string,
  viewport = { width: 1180, height: 820 },
  prepare?: (context: BrowserContext) => Promise<unknown>,
): Promise<OpenedPage> {
  const context = await browser.newContext({ viewport });
  await prepare?.(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  const errors: string[] = [];
  const dialogs: string[] = [];
  const sockets: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  page.on("dialog", (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss().catch(() => undefined);
  });
  page.on("websocket", (socket) => sockets.push(socket.url()));
  // Records state changes as they happen: a short-lived state (reconnecting) could be missed by polling.
  await page.addInitScript(() => {
    const log: string[] = [];
    (window as unknown as { __heraldStates: string[] }).__heraldStates = log;
    document.addEventListener("DOMContentLoaded", () => {
      const status = document.getElementById("status");
      if (!status) return;
      // Records arrive in batches; each one's old value is the state the previous change had set.
      new MutationObserver((records) => {
        const seen = [...records.slice(1).map((r) => r.oldValue ?? ""), status.dataset.state ?? ""];
        for (const state of seen) if (log[log.length - 1] !== state) log.push(state);
      }).observe(status, { attributes: true, attributeFilter: ["data-state"], attributeOldValue: true });
    });
  });
  await page.goto(url);
  await expect.poll(() => page.locator("#subscribe").isEnabled(), { timeout: UI_TIMEOUT }).toBe(true);
  return {
    page,
    context,
    errors,
    dialogs,
    sockets,
    states: () => page.evaluate(() => (window as unknown as { __heraldStates: string[] }).__heraldStates),
    close: () => context.close(),
  };
}

/** Picks the user, clicks Subscribe and waits for the status indicator to say ready. */
export async function subscribeAs(page: Page, user: string): Promise<void> {
  await page.selectOption("#user", user);
  await page.click("#subscribe");
  await waitForState(page, "ready");
}

export async function waitForState(page: Page, state: string): Promise<void> {
  await page.locator(`#status[data-state="${state}"]`).waitFor({ timeout: UI_TIMEOUT });
}

/** The text of every notification on the page, newest first. */
export function notificationTexts(page: Page): Promise<string[]> {
  return page.locator("#notifications .content").allTextContents();
}

/** Waits until a notification with exactly this text is listed. */
export async function waitForNotification(page: Page, text: string): Promise<void> {
  await expect.poll(() => notificationTexts(page), { timeout: UI_TIMEOUT, interval: 100 }).toContain(text);
}

/** Sends a notification with the page's own form and waits for the app to confirm it. */
export async function sendWithForm(page: Page, user: string, message: string): Promise<void> {
  await page.selectOption("#notify-user", user);
  await page.fill("#notify-message", message);
  await page.click("#notify-send");
  await expect
    .poll(() => page.locator("#notify-result").textContent(), { timeout: UI_TIMEOUT })
    .toBe(`Sent to ${user}.`);
}
