import * as hdr from "hdr-histogram-js";
import { ChurningClient } from "../clients/herald-churning.js";
import { type ChurningCommand, type ChurnReport, type ConnectResult, userId } from "../lib/commands.js";
import { monotonicNs } from "../lib/payload.js";
import { sleep } from "../lib/wait.js";

/**
 * The load generator's side of `churn`: Herald clients that subscribe to a channel and unsubscribe
 * again, over and over; counts the cycles of the measured window and the subscribe latency.
 */
const clients: ChurningClient[] = [];
const failures = new Map<string, number>();
const refused = new Map<string, number>();
const closed = new Map<string, number>();
let cycles = 0;
let open = 0;
const newHistogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
let histogram = newHistogram();

export function connectChurning(
  command: Extract<ChurningCommand, { type: "connectChurning" }>,
): Promise<ConnectResult> {
  const startedNs = monotonicNs();
  let ready = 0;
  let failed = 0;
  let lastReadyNs = 0;
  let next = 0;
  let inFlight = 0;
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const pending = command.count - ready - failed;
      if (pending > 0) failures.set("timeout", (failures.get("timeout") ?? 0) + pending);
      resolve({
        ready,
        failed: failed + pending,
        failures: Object.fromEntries(failures),
        startedNs,
        lastReadyNs,
      });
    };
    const timer = setTimeout(finish, command.timeoutMs);
    const settle = () => {
      inFlight--;
      if (ready + failed === command.count) finish();
      else openMore();
    };
    const openOne = (index: number) => {
      let state: "connecting" | "ready" | "gone" = "connecting";
      inFlight++;
      const client = new ChurningClient(
        userId(command.firstUser + index),
        command.url,
        command.localAddresses[index % command.localAddresses.length] as string,
        {
          onReady() {
            if (state !== "connecting") return;
            state = "ready";
            ready++;
            open++;
            lastReadyNs = monotonicNs();
            settle();
          },
          onCycle(subscribeUs) {
            cycles++;
            histogram.recordValue(subscribeUs);
          },
          onRefused(code) {
            refused.set(code, (refused.get(code) ?? 0) + 1);
          },
          onGone(reason) {
            if (state === "connecting") {
              failed++;
              failures.set(reason, (failures.get(reason) ?? 0) + 1);
              state = "gone";
              settle();
              return;
            }
            if (state === "ready") open--;
            state = "gone";
            closed.set(reason, (closed.get(reason) ?? 0) + 1);
          },
        },
      );
      clients.push(client);
    };
    const openMore = () => {
      while (!done && inFlight < command.concurrency && next < command.count) openOne(next++);
    };
    if (command.count === 0) finish();
    else openMore();
  });
}

/** Every client starts cycling. */
export function startChurning(): void {
  for (const client of clients) client.start();
}

/** The measured window starts: what came before is forgotten. */
export function recordChurning(): void {
  cycles = 0;
  refused.clear();
  histogram = newHistogram();
}

export function churnReport(): ChurnReport {
  return {
    cycles,
    refused: Object.fromEntries(refused),
    histogram: hdr.encodeIntoCompressedBase64(histogram),
    open,
    closed: Object.fromEntries(closed),
  };
}

/** No new cycle; resolves once every client has unsubscribed from what it held (or `timeoutMs`). */
export async function stopChurning(timeoutMs: number): Promise<void> {
  for (const client of clients) client.stop();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !clients.every((client) => client.settled)) await sleep(20);
}

export function closeChurning(): void {
  for (const client of clients.splice(0)) client.terminate();
}
