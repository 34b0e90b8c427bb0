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
 * The load generator's side of `reconnect`: clients that connect to one gateway, and when it dies
 * reconnect to another with `recover`; then what each received, against what was published.
 */
const clients: RecoveringClient[] = [];
let firstUser = 0;
let recoveredReady = 0;
let notRecovered = 0;
const failures = new Map<string, number>();

export function connectRecovering(
  command: Extract<RecoveringCommand, { type: "connectRecovering" }>,
): Promise<ConnectResult> {
  firstUser = command.firstUser;
  const tally = new ConnectTally(command.count, command.timeoutMs, failures);
  for (let i = 0; i < command.count; i++) {
    const user = command.firstUser + i;
    let state: "connecting" | "ready" | "reconnected" | "failed" = "connecting";
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
        },
        onRecoveredReady(recovered) {
          if (state !== "ready") return;
          state = "reconnected";
          recoveredReady++;
          if (!recovered) notRecovered++;
        },
        onFailure(reason) {
          const before = state;
          state = "failed";
          // A failure before ready counts against the connect; after it, only in the report.
          if (before === "connecting") tally.markFailed(reason);
          else failures.set(reason, (failures.get(reason) ?? 0) + 1);
        },
      },
    );
    clients.push(client);
  }
  return tally.result;
}

export function recoveryProgress(): RecoveryProgress {
  let received = 0;
  for (const client of clients) received += client.tally.indices.size;
  return { ready: recoveredReady, notRecovered, received, failures: Object.fromEntries(failures) };
}

/**
 * Every client's times (from `killedNs`), and its user's messages against what was published:
 * `sent[i]` numbered messages went to user `firstUser + i` (indices 0 .. sent[i]-1).
 */
export function recoveryReport(killedNs: number, sent: readonly number[]): RecoveryReport {
  const readyMs: number[] = [];
  const recoveredMs: number[] = [];
  let lost = 0;
  let duplicated = 0;
  let duplicatedBySeq = 0;
  let gapsByPrev = 0;
  let misrouted = 0;
  let replayed = 0;
  let replaying = 0;
  let unexpected = 0;
  clients.forEach((client, i) => {
    const count = sent[i] ?? 0;
    const { indices } = client.tally;
    for (let index = 0; index < count; index++) if (!indices.has(index)) lost++;
    for (const index of indices) if (index >= count) unexpected++;
    duplicated += client.tally.duplicated;
    duplicatedBySeq += client.tally.duplicatedBySeq;
    gapsByPrev += client.tally.gapsByPrev;
    misrouted += client.tally.misrouted;
    replayed += client.replayed;
    if (client.replayed > 0) replaying++;
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
    duplicated,
    duplicatedBySeq,
    gapsByPrev,
    misrouted,
    unexpected,
    replayed,
    replaying,
    notRecovered,
    failures: Object.fromEntries(failures),
  };
}

export function closeRecovering(): void {
  for (const client of clients.splice(0)) client.terminate();
}
