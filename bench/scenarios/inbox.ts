import { HeraldBackend } from "../../src/backend/index.js";
import { TestClient } from "../../src/testing/index.js";
import { SUBJECT_PREFIX, userId } from "../lib/commands.js";
import { round3 } from "../lib/proc-stats.js";
import { sleep } from "../lib/wait.js";
import { connectAll, failureText, type Measured, meterAll, type RunContext, round2 } from "./context.js";

/** Users whose pages are timed, and what each gets. */
const LIST_USERS = 20;
const LIST_ITEMS = 50;
const LISTS_PER_USER = 10;
const MARK_USERS = 50;
const MARK_ROUNDS = 5;
/** Acknowledged publishes under way at once while notifying. */
const NOTIFY_CONCURRENCY = 64;
/** What the gateways count exactly (`--inbox-unread-cap`, default). */
const CAP = 99;

/**
 * inbox: the storm (every client connects at once) measured like `storm`; with `--inbox true`
 * (herald-inbox) then, while those clients stay connected: `inbox_list` of 50 items timed on users
 * with 50 notifications, a mark read on one gateway timed until the user's connection on a second
 * gateway gets its `inbox` frame, and `rate` notifications/s to the connected users for
 * `durationS`, after which every user's unread count is checked against what was sent. The herald
 * row is the same storm without the inbox: the base of the cost per connect.
 */
export async function measureInbox(context: RunContext): Promise<Measured> {
  const { params, system, options } = context;
  await sleep(500);
  const meter = meterAll(context);
  const storm = await connectAll(context, 0, 120_000);
  const cpu = meter.read();
  const stormEndNs = Number(process.hrtime.bigint());
  options.log(`  ${system.name}: ${storm.ready}/${params.clients} ready${failureText(storm)}`);
  const figures: Record<string, number> = {
    clients: params.clients,
    ready: storm.ready,
    serverCpuS: cpu.serverTotal,
    connectsPerServerCpuS: Math.round(storm.ready / Math.max(1e-3, cpu.serverTotal)),
    serverCpuMsPerConnect: round3((1000 * cpu.serverTotal) / Math.max(1, storm.ready)),
    loadgenCpuPct: Math.round((100 * cpu.loadgen) / cpu.wall),
    otherOnServerCores: round2(cpu.otherOnServerCores / cpu.wall),
    otherOnClientCores: round2(cpu.otherOnClientCores / cpu.wall),
  };
  const details: Record<string, unknown> = { failures: storm.failures, serverCpuByProcess: cpu.server };
  const window = { fromNs: storm.startedNs, toNs: stormEndNs };
  if (system.name !== "herald-inbox" || !system.herald) return { figures, details, window };

  const { herald } = system;
  const other = await herald.startGateway();
  const backend = await HeraldBackend.connect({
    servers: herald.natsUrl,
    prefix: SUBJECT_PREFIX,
    name: "bench-inbox",
  });
  const opened: TestClient[] = [];
  try {
    const list = await timeLists(context.system.clientUrl, backend, opened);
    options.log(
      `  list of ${LIST_ITEMS}: p50 ${list.p50} ms, p99 ${list.p99} ms; a user's first on the gateway: p99 ${list.firstP99} ms`,
    );
    const marks = await timeMarks(context.system.clientUrl, other.clientUrl, backend, opened);
    options.log(`  mark → other gateway: p50 ${marks.p50} ms, p99 ${marks.p99} ms`);
    const notifyMeter = meterAll(context, [other.process]);
    const notified = await notifyConnected(backend, params.clients, params.rate, params.durationS);
    const notifyCpu = notifyMeter.read();
    const counts = await checkCounts(backend, params.clients, notified.perUser);
    options.log(
      `  ${notified.stored} notifications at ${notified.perS}/s, ${notified.failed} failed; ${counts.wrong} of ${counts.checked} counts wrong`,
    );
    Object.assign(figures, {
      listP50Ms: list.p50,
      listP99Ms: list.p99,
      listFirstP99Ms: list.firstP99,
      markP50Ms: marks.p50,
      markP99Ms: marks.p99,
      notified: notified.stored,
      notifyPerS: notified.perS,
      notifyFailed: notified.failed,
      countsChecked: counts.checked,
      countsWrong: counts.wrong,
      notifyServerCpuS: notifyCpu.serverTotal,
    });
    details.wrongCounts = counts.examples;
    details.listMaxMs = list.max;
    details.markMaxMs = marks.max;
  } finally {
    for (const client of opened) client.close();
    await backend.close();
  }
  return { figures, details, window };
}

/** Users with 50 notifications each, connected, each asking for its newest 50 ten times. */
async function timeLists(
  url: string,
  backend: HeraldBackend,
  opened: TestClient[],
): Promise<Timing & { firstP99: number }> {
  const users = Array.from({ length: LIST_USERS }, (_, i) => `bench-list-${i}`);
  await inParallel(
    users.flatMap((user) => Array.from({ length: LIST_ITEMS }, (_, n) => () => backend.notify(user, { n }))),
    NOTIFY_CONCURRENCY,
  );
  const samples: number[] = [];
  // A user's first page on a gateway also reads the user's ids (a consumer of headers): timed apart.
  const firsts: number[] = [];
  for (const user of users) {
    const client = await TestClient.ready(url, user, {}, 30_000);
    opened.push(client.answerPings());
    await client.next("inbox", 30_000);
    for (let id = 1; id <= LISTS_PER_USER; id++) {
      const started = performance.now();
      client.send({ type: "inbox_list", id, limit: LIST_ITEMS });
      const page = await client.next("inbox_page", 30_000);
      (id === 1 ? firsts : samples).push(performance.now() - started);
      if ((page.items as unknown[]).length !== LIST_ITEMS) throw new Error(`a page of ${user} is short`);
    }
  }
  return { ...timing(samples), firstP99: timing(firsts).p99 };
}

/** A user on two gateways: marked read on the first, timed until the second connection hears of it. */
async function timeMarks(
  url: string,
  otherUrl: string,
  backend: HeraldBackend,
  opened: TestClient[],
): Promise<Timing> {
  const pairs: { user: string; here: TestClient; there: TestClient }[] = [];
  for (let i = 0; i < MARK_USERS; i++) {
    const user = `bench-mark-${i}`;
    const here = (await TestClient.ready(url, user, {}, 30_000)).answerPings();
    const there = (await TestClient.ready(otherUrl, user, {}, 30_000)).answerPings();
    opened.push(here, there);
    await here.next("inbox", 30_000);
    await there.next("inbox", 30_000);
    pairs.push({ user, here, there });
  }
  const samples: number[] = [];
  for (let round = 1; round <= MARK_ROUNDS; round++) {
    for (const { user, here, there } of pairs) {
      const { id } = await backend.notify(user, { round });
      // Both connections counted it: the next `inbox` frame on `there` is the mark's.
      await untilInbox(here, (frame) => frame.unread === 1);
      await untilInbox(there, (frame) => frame.unread === 1);
      const started = performance.now();
      here.send({ type: "inbox_mark", id: round, upTo: id, state: "read" });
      await untilInbox(there, (frame) => frame.unread === 0);
      samples.push(performance.now() - started);
    }
  }
  return timing(samples);
}

async function untilInbox(
  client: TestClient,
  matches: (frame: Record<string, unknown>) => boolean,
): Promise<void> {
  for (;;) {
    const frame = await client.next("inbox", 30_000);
    if (matches(frame)) return;
  }
}

/** `rate` notifications a second for `seconds`, round robin over the connected users u0…: what each got. */
async function notifyConnected(
  backend: HeraldBackend,
  users: number,
  rate: number,
  seconds: number,
): Promise<{ stored: number; failed: number; perS: number; perUser: number[] }> {
  const perUser = new Array<number>(users).fill(0);
  const total = Math.round(rate * seconds);
  let stored = 0;
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (let n = next++; n < total; n = next++) {
      // Paced: the n-th goes out no earlier than n / rate seconds after the start.
      const due = started + (n * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const user = n % users;
      try {
        await backend.notify(userId(user), { n });
        perUser[user] = (perUser[user] ?? 0) + 1;
        stored++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: NOTIFY_CONCURRENCY }, worker));
  const elapsedS = (performance.now() - started) / 1000;
  return { stored, failed, perS: Math.round(stored / elapsedS), perUser };
}

/** Every user's unread count, asked of the gateways, against what was sent to it (the cap applied). */
async function checkCounts(
  backend: HeraldBackend,
  users: number,
  sent: readonly number[],
): Promise<{ checked: number; wrong: number; examples: string[] }> {
  let wrong = 0;
  const examples: string[] = [];
  for (let first = 0; first < users; first += 100) {
    const batch = Array.from({ length: Math.min(100, users - first) }, (_, i) => userId(first + i));
    const counts = await backend.unread(batch);
    batch.forEach((user, i) => {
      const expected = Math.min(sent[first + i] ?? 0, CAP);
      const got = counts[user];
      const capped = (sent[first + i] ?? 0) > CAP;
      if (got?.unread !== expected || got.capped !== capped) {
        wrong++;
        if (examples.length < 5) examples.push(`${user}: ${JSON.stringify(got)}, sent ${sent[first + i]}`);
      }
    });
  }
  return { checked: users, wrong, examples };
}

interface Timing {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => round2(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { p50: at(0.5), p99: at(0.99), max: round2(sorted.at(-1) ?? 0) };
}

async function inParallel(tasks: readonly (() => Promise<unknown>)[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < tasks.length; i = next++) await tasks[i]!();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
