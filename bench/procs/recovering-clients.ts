import { RecoveringClient } from "../clients/herald-recovering.js";
import {
  type ConnectResult,
  type RecoveringCommand,
  type RecoveryProgress,
  type RecoveryReport,
  userId,
} from "../lib/commands.js";
import { ConnectTally } from "../lib/connect-tally.js";

/**
 * The load generator's side of `reconnect` and `scale`: clients that connect to a gateway, and when
 * their connection drops (the gateway or its worker dies) reconnect with `recover` to another (or
 * the same port); then what each received, against what was published.
 */
const clients: RecoveringClient[] = [];
let firstUser = 0;
let dropped = 0;
let recoveredReady = 0;
let notRecovered = 0;
const failures = new Map<string, number>();

/**
 * Opens the clients, `concurrency` at a time (0: all at once, a storm); each stamped notification
 * goes to `onNotification` (the load generator's latency histogram).
 */
export function connectRecovering(
  command: Extract<RecoveringCommand, { type: "connectRecovering" }>,
  onNotification: (run: number, sentNs: number) => void,
): Promise<ConnectResult> {
  firstUser = command.firstUser;
  const tally = new ConnectTally(command.count, command.timeoutMs, failures);
  const limit = command.concurrency === 0 ? command.count : command.concurrency;
  let next = 0;
  let inFlight = 0;
  const openMore = () => {
    while (inFlight < limit && next < command.count && !tally.finished) openOne(next++);
  };
  const settled = () => {
    inFlight--;
    openMore();
  };
  const openOne = (i: number) => {
    const user = command.firstUser + i;
    let state: "connecting" | "ready" | "reconnected" | "failed" = "connecting";
    inFlight++;
    const client = new RecoveringClient(
      userId(user),
      user,
      command.reconnectUrl,
      command.localAddresses[i % command.localAddresses.length] as string,
      command.url,
      {
        onFirstReady() {
          if (state !== "connecting") return;
          state = "ready";
          tally.markReady();
          settled();
        },
        onDropped() {
          dropped++;
        },
        onRecoveredReady(recovered) {
          if (state !== "ready") return;
          state = "reconnected";
          recoveredReady++;
          if (!recovered) notRecovered++;
        },
        onNotification,
        onFailure(reason) {
          const before = state;
          state = "failed";
          // A failure before ready counts against the connect; after it, only in the report.
          if (before === "connecting") {
            tally.markFailed(reason);
            settled();
          } else failures.set(reason, (failures.get(reason) ?? 0) + 1);
        },
      },
    );
    clients.push(client);
  };
  openMore();
  return tally.result;
}

export function recoveryProgress(): RecoveryProgress {
  let received = 0;
  for (const client of clients) received += client.tally.indices.size;
  return {
    dropped,
    ready: recoveredReady,
    notRecovered,
    received,
    failures: Object.fromEntries(failures),
  };
}

/**
 * Every client's times (from `killedNs`), and its user's messages against what was published:
 * `sent[i]` numbered messages went to user `firstUser + i` (indices 0 .. sent[i]-1).
 */
export function recoveryReport(killedNs: number, sent: readonly number[]): RecoveryReport {
  const readyMs: number[] = [];
  const recoveredMs: number[] = [];
  let lost = 0;
  let missedAfterRefetch = 0;
  let duplicated = 0;
  let duplicatedBySeq = 0;
  let gapsByPrev = 0;
  let misrouted = 0;
  let replayed = 0;
  let replaying = 0;
  let unexpected = 0;
  let retried = 0;
  clients.forEach((client, i) => {
    const count = sent[i] ?? 0;
    const { indices } = client.tally;
    let missing = 0;
    for (let index = 0; index < count; index++) if (!indices.has(index)) missing++;
    // Told recovered: false, the application refetches: what it missed is known, not lost unseen.
    if (client.recovered === false) missedAfterRefetch += missing;
    else lost += missing;
    for (const index of indices) if (index >= count) unexpected++;
    duplicated += client.tally.duplicated;
    duplicatedBySeq += client.tally.duplicatedBySeq;
    gapsByPrev += client.tally.gapsByPrev;
    misrouted += client.tally.misrouted;
    replayed += client.replayed;
    if (client.replayed > 0) replaying++;
    if (client.reconnectAttempts > 1) retried++;
    if (client.readyNs > 0) {
      readyMs.push((client.readyNs - killedNs) / 1e6);
      recoveredMs.push((client.recoveredNs - killedNs) / 1e6);
    }
  });
  return {
    firstUser,
    readyMs,
    recoveredMs,
    lost,
    missedAfterRefetch,
    duplicated,
    duplicatedBySeq,
    gapsByPrev,
    misrouted,
    unexpected,
    replayed,
    replaying,
    retried,
    notRecovered,
    failures: Object.fromEntries(failures),
  };
}

export function closeRecovering(): void {
  for (const client of clients.splice(0)) client.terminate();
}
