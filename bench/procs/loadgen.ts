import * as hdr from "hdr-histogram-js";
import type { BenchClient, ClientFactory } from "../clients/client.js";
import { heraldClient } from "../clients/herald.js";
import { natsWsClient } from "../clients/nats-ws.js";
import { socketIoClient } from "../clients/socketio.js";
import {
  type ConnectResult,
  LoadgenCommand,
  type LoadgenStats,
  type SystemName,
  userId,
} from "../lib/commands.js";
import { announceReady, serveCommands } from "../lib/ipc.js";
import { monotonicNs } from "../lib/payload.js";

/**
 * The load generator: holds client sockets for one system, opens them (bounded concurrency, or all
 * at once for the storm), and records publish-to-receipt latency of the notifications of one run.
 */
const FACTORIES: Record<SystemName, ClientFactory> = {
  herald: heraldClient,
  "nats-ws": natsWsClient,
  socketio: socketIoClient,
};

type State = "connecting" | "ready" | "gone";

const clients: BenchClient[] = [];
const closedAfterReady = new Map<string, number>();
let open = 0;
let closing = false;

let currentRun = 0;
let received = 0;
let stray = 0;
let firstReceiptNs = 0;
let lastReceiptNs = 0;
const newHistogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
let histogram = newHistogram();

function onNotification(run: number, sentNs: number): void {
  if (run !== currentRun) {
    stray++;
    return;
  }
  const now = monotonicNs();
  if (received === 0) firstReceiptNs = now;
  received++;
  lastReceiptNs = now;
  histogram.recordValue(Math.max(1, Math.ceil((now - sentNs) / 1000)));
}

function connect(command: Extract<LoadgenCommand, { type: "connect" }>): Promise<ConnectResult> {
  const factory = FACTORIES[command.system];
  const failures = new Map<string, number>();
  const startedNs = monotonicNs();
  let lastReadyNs = 0;
  let ready = 0;
  let failed = 0;
  let next = 0;
  let inFlight = 0;
  const limit = command.concurrency === 0 ? command.count : command.concurrency;

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
      else if (!done) openMore();
    };
    const openOne = (index: number) => {
      let state: State = "connecting";
      inFlight++;
      const client = factory(
        {
          url: command.url,
          user: userId(command.firstUser + index),
          localAddress: command.localAddresses[index % command.localAddresses.length] as string,
        },
        {
          onReady() {
            if (state !== "connecting") return;
            state = "ready";
            open++;
            ready++;
            lastReadyNs = monotonicNs();
            settle();
          },
          onNotification,
          onStray() {
            stray++;
          },
          onGone(reason) {
            if (state === "gone") return;
            if (state === "connecting") {
              failed++;
              failures.set(reason, (failures.get(reason) ?? 0) + 1);
              state = "gone";
              settle();
              return;
            }
            state = "gone";
            open--;
            if (!closing) closedAfterReady.set(reason, (closedAfterReady.get(reason) ?? 0) + 1);
          },
        },
      );
      clients.push(client);
    };
    const openMore = () => {
      while (inFlight < limit && next < command.count) openOne(next++);
    };
    if (command.count === 0) finish();
    else openMore();
  });
}

function stats(): LoadgenStats {
  return {
    run: currentRun,
    received,
    stray,
    firstReceiptNs,
    lastReceiptNs,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
    open,
    closedAfterReady: Object.fromEntries(closedAfterReady),
  };
}

serveCommands(LoadgenCommand, async (command) => {
  switch (command.type) {
    case "connect":
      return connect(command);
    case "record":
      currentRun = command.run;
      received = 0;
      firstReceiptNs = 0;
      lastReceiptNs = 0;
      histogram = newHistogram();
      return {};
    case "stats":
      return stats();
    case "count":
      return { received };
    case "close":
      closing = true;
      for (const client of clients.splice(0)) client.terminate();
      setTimeout(() => process.exit(0), 200);
      return {};
  }
});
announceReady();
// A normal exit (not death by signal) lets --cpu-prof write its profile.
process.on("SIGTERM", () => process.exit(0));
