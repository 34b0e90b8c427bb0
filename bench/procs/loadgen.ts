import * as hdr from "hdr-histogram-js";
import type { BenchClient, ClientFactory } from "../clients/client.js";
import { heraldClient } from "../clients/herald.js";
import { httpStreamClient, sseClient } from "../clients/herald-http.js";
import { natsWsClient } from "../clients/nats-ws.js";
import { socketIoClient } from "../clients/socketio.js";
import {
  type ConnectResult,
  LoadgenCommand,
  type LoadgenStats,
  type ResumeResult,
  type SystemName,
  userId,
} from "../lib/commands.js";
import { ConnectTally } from "../lib/connect-tally.js";
import { announceReady, serveCommands } from "../lib/ipc.js";
import { monotonicNs } from "../lib/payload.js";
import { sleep } from "../lib/wait.js";
import {
  churnReport,
  closeChurning,
  connectChurning,
  recordChurning,
  startChurning,
  stopChurning,
} from "./churning-clients.js";
import {
  closeRecovering,
  connectRecovering,
  recoveryProgress,
  recoveryReport,
} from "./recovering-clients.js";

/**
 * The load generator: holds client sockets for one system, opens them (bounded concurrency, or all
 * at once for the storm), and records publish-to-receipt latency of the notifications of one run.
 */
const FACTORIES: Record<SystemName, ClientFactory> = {
  herald: heraldClient,
  "herald-nohistory": heraldClient,
  "herald-presence": heraldClient,
  "herald-http-stream": httpStreamClient,
  "herald-sse": sseClient,
  "herald-inbox": heraldClient,
  "nats-ws": natsWsClient,
  socketio: socketIoClient,
};

type State = "connecting" | "ready" | "gone";

const clients: BenchClient[] = [];
/** Clients that paused right after ready, with everything that ended them, in order. */
interface StalledClient {
  readonly client: BenchClient;
  readonly reasons: string[];
  notifications: number;
  gone: boolean;
  resumed: boolean;
}
const stalled: StalledClient[] = [];
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
  const tally = new ConnectTally(command.count, command.timeoutMs, new Map());
  let next = 0;
  let inFlight = 0;
  const limit = command.concurrency === 0 ? command.count : command.concurrency;

  const settled = () => {
    inFlight--;
    if (!tally.finished) openMore();
  };
  const openOne = (index: number) => {
    let state: State = "connecting";
    inFlight++;
    // Set right after the client exists (its events come later, from the event loop).
    let stall: StalledClient | undefined;
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
          if (stall) {
            client.pause();
            stalled.push(stall);
          }
          tally.markReady();
          settled();
        },
        // The hot path of normal clients stays a direct call.
        onNotification: command.stall
          ? (run, sentNs) => {
              if (stall?.resumed) stall.notifications++;
              onNotification(run, sentNs);
            }
          : onNotification,
        onStray() {
          stray++;
        },
        onGone(reason) {
          // A stalled client keeps every reason (an error frame, then the close code); at most a few.
          if (stall && stall.reasons.length < 4) stall.reasons.push(reason);
          if (stall) stall.gone = true;
          if (state === "gone") return;
          if (state === "connecting") {
            state = "gone";
            tally.markFailed(reason);
            settled();
            return;
          }
          state = "gone";
          open--;
          if (!closing) closedAfterReady.set(reason, (closedAfterReady.get(reason) ?? 0) + 1);
        },
      },
    );
    if (command.stall) stall = { client, reasons: [], notifications: 0, gone: false, resumed: false };
    clients.push(client);
  };
  const openMore = () => {
    while (inFlight < limit && next < command.count) openOne(next++);
  };
  openMore();
  return tally.result;
}

/**
 * Resumes stalled clients and waits (bounded) until each has closed: what did it see? Those still
 * open then are dropped.
 */
async function resume(count: number | undefined, timeoutMs: number): Promise<ResumeResult> {
  const group = stalled.filter((s) => !s.resumed).slice(0, count ?? stalled.length);
  for (const s of group) {
    s.resumed = true;
    s.client.resume();
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && group.some((s) => !s.gone)) await sleep(50);
  // An error frame or socket error comes just before the close event: let the close be recorded too.
  await sleep(200);
  const outcomes = new Map<string, number>();
  const closeCodes = new Map<string, number>();
  for (const s of group) {
    const outcome = s.gone ? s.reasons.join(", ") : "still open";
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    for (const reason of s.reasons) {
      if (reason.startsWith("close "))
        closeCodes.set(reason.slice(6), (closeCodes.get(reason.slice(6)) ?? 0) + 1);
    }
  }
  const stillOpen = group.filter((s) => !s.gone);
  // Done with them: a client the server never cut off must not count as a reader in later runs.
  for (const s of stillOpen) s.client.terminate();
  return {
    resumed: group.length,
    outcomes: Object.fromEntries(outcomes),
    closeCodes: Object.fromEntries(closeCodes),
    stillOpen: stillOpen.length,
    notificationsRead: group.map((s) => s.notifications),
  };
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
    case "resume":
      return resume(command.count, command.timeoutMs);
    case "connectRecovering":
      return connectRecovering(command, onNotification);
    case "recoveryProgress":
      return recoveryProgress();
    case "recoveryReport":
      return recoveryReport(command.killedNs, command.sent);
    case "connectChurning":
      return connectChurning(command);
    case "churnStart":
      startChurning();
      return {};
    case "churnRecord":
      recordChurning();
      return {};
    case "churnReport":
      return churnReport();
    case "churnStop":
      await stopChurning(command.timeoutMs);
      return {};
    case "close":
      closing = true;
      closeRecovering();
      closeChurning();
      for (const client of clients.splice(0)) client.terminate();
      setTimeout(() => process.exit(0), 200);
      return {};
  }
});
announceReady();
// A normal exit (not death by signal) lets --cpu-prof write its profile.
process.on("SIGTERM", () => process.exit(0));
