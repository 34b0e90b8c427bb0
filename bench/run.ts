import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { OPTION_SPECS } from "../src/gateway/config/options.js";
import { SYSTEM_NAMES, type SystemName } from "./lib/commands.js";
import { describeEnvironment } from "./lib/environment.js";
import { busySeconds, openFilesLimit, parseCoreList } from "./lib/proc-stats.js";
import { stopAll, stopAllOnSignals } from "./lib/processes.js";
import { formatProfiles, formatTable, formatTargets, writeResult } from "./lib/report.js";
import { sleep } from "./lib/wait.js";
import {
  DEFAULT_SCENARIOS,
  FIGURES,
  type HarnessOptions,
  SCENARIO_NAMES,
  SCENARIO_SYSTEMS,
  type ScenarioName,
  type ScenarioParams,
  SYSTEM_SCENARIOS,
  type SystemResult,
} from "./scenarios/definitions.js";
import { runScenario } from "./scenarios/run-scenario.js";
import { scaleWorkers } from "./scenarios/scale.js";
import { BENCH_DIR, REPO_DIR } from "./systems/system.js";

/**
 * `npm run bench`: every scenario against Herald and its two peers, one system at a time, with the
 * server side on one core and the load generator on the other. Prints a table per scenario and
 * writes bench/results/<date>-<scenario>.json.
 */
const program = new Command("bench")
  .description("Herald side by side with nats-server's own WebSocket and Socket.IO + Redis")
  .addOption(
    new Option("--scenario <names>", `comma-separated scenarios (${SCENARIO_NAMES.join(", ")})`).default(
      DEFAULT_SCENARIOS.join(","),
    ),
  )
  .addOption(new Option("--system <names>", "comma-separated systems").default(SYSTEM_NAMES.join(",")))
  .option("--quick", "small and short: the regression guard (results go to bench/results/quick)")
  .option(
    "-n, --clients <n>",
    "clients (all scenarios; idle defaults to the open-files limit; slow: the normal clients, default 1000)",
    positiveInt,
  )
  .option("--stalled <n>", "slow: clients that stop reading after ready", positiveInt, 5)
  .option(
    "--rate <n>",
    "notifications per second (default 2000 unicast, 20 broadcast, 50 slow)",
    positiveNumber,
  )
  .option("--duration <s>", "seconds of publishing measured", positiveNumber)
  .option("--warmup <s>", "seconds of publishing before measuring", nonNegativeNumber)
  .option("--payload-bytes <n>", "size of each notification's payload (default 100; slow 8000)", positiveInt)
  .option("--profile", "run Node servers with --cpu-prof and print the top of the profile")
  .option("--profile-loadgen", "with --profile: also profile the load generator")
  .option("--server-core <cpus>", "taskset core list for the server side", "0")
  .option("--client-core <cpus>", "taskset core list for load generator and publisher", "1")
  .option("--addresses <n>", "loopback source addresses 127.0.0.1..n (default 4; scale 16)", positiveInt)
  .option(
    "--workers <n>",
    "scale: gateway worker processes (default: as many as the clients need under the open-files limit, plus one)",
    positiveInt,
  )
  .option("--setup-concurrency <n>", "connections opening at once outside the storm", positiveInt, 200)
  .option("--out <dir>", "where result files go")
  .option("--gateway-args <flags>", 'extra herald gateway flags, e.g. "--compression true"', "")
  .option("--verbose", "print every process's output")
  .parse();

const opts = program.opts<{
  scenario: string;
  system: string;
  quick?: boolean;
  clients?: number;
  stalled: number;
  rate?: number;
  duration?: number;
  warmup?: number;
  payloadBytes?: number;
  profile?: boolean;
  profileLoadgen?: boolean;
  serverCore: string;
  clientCore: string;
  addresses?: number;
  workers?: number;
  setupConcurrency: number;
  out?: string;
  verbose?: boolean;
  gatewayArgs: string;
}>();

const scenarios = pickList("--scenario", opts.scenario, SCENARIO_NAMES);
const systems = pickList("--system", opts.system, SYSTEM_NAMES);
const limit = openFilesLimit();
// Each server process holds one descriptor per client plus a few hundred of its own.
const idleMax = Math.floor((limit.soft - 500) / 500) * 500;
const HEARTBEAT_INTERVAL_S = (OPTION_SPECS.heartbeatInterval.default ?? 25_000) / 1000;
const quick = opts.quick === true;
const allCores = Array.from({ length: cpus().length }, (_, i) => i);

function paramsFor(scenario: ScenarioName): ScenarioParams {
  const clients = opts.clients ?? defaultClients(scenario);
  const stalled = scenario === "slow" ? opts.stalled : 0;
  const workers = scenario === "scale" ? (opts.workers ?? scaleWorkers(clients, limit.soft)) : 1;
  if (scenario === "scale") checkScaleWorkers(clients, workers);
  else if (clients + stalled > idleMax) {
    fail(
      `${clients + stalled} clients do not fit the open-files limit (${limit.soft}); at most ${idleMax}. Raise ulimit -n.`,
    );
  }
  return {
    clients,
    stalled,
    rate: opts.rate ?? defaultRate(scenario),
    // Slow keeps its full length in --quick: the stalled sockets need that long to fill their buffers.
    durationS: opts.duration ?? (quick && scenario !== "slow" ? 3 : scenario === "scale" ? 10 : 20),
    warmupS: opts.warmup ?? (quick ? 1 : 3),
    // Slow: big notifications at a moderate rate fill a stalled socket at 400 KB/s while the
    // normal clients' fan-out (50,000 deliveries/s) stays within one server core.
    payloadBytes: opts.payloadBytes ?? (scenario === "slow" ? 8000 : 100),
    settleS: quick ? 2 : 5,
    // Scale: idle CPU over one heartbeat interval, so every connection's ping and pong are in it once.
    holdS: quick ? 3 : scenario === "scale" ? HEARTBEAT_INTERVAL_S : 30,
    workers,
  };
}

/**
 * Each worker must hold its share, and when one is killed its clients come back to the others: at
 * most N / (W - 1) each, under the gateway's --max-connections default (the open-files limit less 256).
 */
function checkScaleWorkers(clients: number, workers: number): void {
  const perWorker = limit.soft - 256;
  if (workers < 2) fail("scale: --workers must be 2 or more (one is killed while the others serve)");
  if (Math.ceil(clients / (workers - 1)) > perWorker) {
    fail(
      `scale: ${clients} clients on ${workers} workers leave ${Math.ceil(clients / (workers - 1))} per worker when one is killed; a worker accepts ${perWorker} (open files ${limit.soft}): raise --workers`,
    );
  }
}

function defaultClients(scenario: ScenarioName): number {
  switch (scenario) {
    case "idle":
      return quick ? 1000 : idleMax;
    case "slow":
    case "churn":
      return quick ? 200 : 1000;
    case "scale":
      return quick ? 2000 : 100_000;
    default:
      return quick ? 500 : 5000;
  }
}

function defaultRate(scenario: ScenarioName): number {
  switch (scenario) {
    case "broadcast":
      return 20;
    case "slow":
      return 50;
    case "reconnect":
    case "inbox":
      // acknowledged publishes: 1,000/s stored while 5,000 clients reconnect (or hold their inboxes)
      return quick ? 200 : 1000;
    default:
      return quick ? 500 : 2000;
  }
}

const defaultHarness: HarnessOptions = {
  serverCore: opts.serverCore,
  clientCore: opts.clientCore,
  serverCores: parseCoreList(opts.serverCore),
  clientCores: parseCoreList(opts.clientCore),
  localAddresses: addresses(opts.addresses ?? 4),
  setupConcurrency: opts.setupConcurrency,
  clientsPerLoadgen: Math.floor(limit.soft / 2),
  profileDir: opts.profile
    ? join(BENCH_DIR, "results", "profiles", new Date().toISOString().replace(/[:.]/g, "-"))
    : undefined,
  profileLoadgen: opts.profileLoadgen === true,
  verbose: opts.verbose === true,
  gatewayArgs: opts.gatewayArgs.split(/\s+/).filter(Boolean),
  log: (line) => process.stdout.write(`${line}\n`),
};

async function main(): Promise<number> {
  stopAllOnSignals();
  // The runner itself (all its threads) stays off the server core too.
  execFileSync("taskset", ["-a", "-cp", defaultHarness.clientCore, String(process.pid)], {
    stdio: "ignore",
  });
  const environment = describeEnvironment(REPO_DIR);
  const outDir = opts.out ?? join(BENCH_DIR, "results", ...(quick ? ["quick"] : []));
  process.stdout.write(
    `herald bench (${quick ? "quick" : "full"}): ${environment.cpuModel}, ${environment.cores} cores, Node ${environment.node}, ` +
      `${environment.natsServer}, ${environment.redisServer.split(" ").slice(0, 3).join(" ")}; open files ${limit.soft}; ` +
      `load average ${environment.loadAverageAtStart.join(" ")}\n`,
  );
  // What the machine does without us, over one second (the load average would count earlier runs).
  const busyBefore = busySeconds(allCores);
  await sleep(1000);
  const busyAtStart = Math.round((busySeconds(allCores) - busyBefore) * 100) / 100;
  if (busyAtStart > 0.1) {
    process.stdout.write(
      `note: ${busyAtStart} cores were busy before the run started; figures will be noisy (see the 'other load' rows).\n`,
    );
  }
  let failures = 0;
  for (const scenario of scenarios) {
    const params = paramsFor(scenario);
    const harness = harnessFor(scenario);
    const title = describeScenario(scenario, params);
    process.stdout.write(`\n${title}\n`);
    const results: SystemResult[] = [];
    const only = SCENARIO_SYSTEMS[scenario];
    const runnable = (only ? systems.filter((system) => only.includes(system)) : systems).filter(
      (system) => SYSTEM_SCENARIOS[system]?.includes(scenario) ?? true,
    );
    if (runnable.length === 0) {
      process.stdout.write(`  skipped: ${scenario} runs only on ${only?.join(", ")}\n`);
      continue;
    }
    for (const system of runnable) {
      try {
        results.push(await runScenario(scenario, system, params, harness));
      } catch (err) {
        failures++;
        const message = err instanceof Error ? err.message : String(err);
        process.stdout.write(`  ${system} failed: ${message}\n`);
        results.push({ system, ok: false, error: message });
        await stopAll();
      }
      await sleep(1000);
    }
    const table = formatTable(title, FIGURES[scenario], results);
    process.stdout.write(`\n${table}\n`);
    for (const r of results) {
      if (r.ok && (r.figures.loadgenCpuPct ?? 0) >= 90) {
        process.stdout.write(
          `note: the load generator was saturated during ${r.system} (${r.figures.loadgenCpuPct}% of its core): figures that depend on time (latency, time to all ready, rates) measure the load generator too.\n`,
        );
      }
    }
    const broken = brokenGuarantees(scenario, results);
    if (broken) {
      failures++;
      process.stdout.write(`FAILED: ${broken}\n`);
    }
    const targets = formatTargets(scenario, results);
    if (targets) {
      const caveat = quick ? "(quick size: indicative only; fixed costs weigh more at small N)\n" : "";
      process.stdout.write(`${caveat}${targets}\n`);
    }
    const profiles = formatProfiles(results);
    if (profiles) process.stdout.write(`\n${profiles}\n`);
    const path = await writeResult(outDir, {
      scenario,
      profile: quick ? "quick" : "full",
      environment: { ...environment, coresBusyAtStart: busyAtStart },
      parameters: {
        ...params,
        gatewayArgs: harness.gatewayArgs,
        serverCore: harness.serverCore,
        clientCore: harness.clientCore,
        localAddresses: harness.localAddresses,
      },
      results,
      table: targets ? `${table}\n${targets}` : table,
    });
    process.stdout.write(`results: ${path}\n`);
  }
  process.stdout.write(
    "\n↑ higher is better, ↓ lower is better; '!' marks a ratio where Herald is behind that peer.\n",
  );
  return failures === 0 ? 0 : 1;
}

/**
 * Scale spreads its clients over 16 source addresses: each holds at most the ~28,000 ports of the
 * ephemeral range (a socket bound to an address before it connects takes a port of its own there).
 */
function harnessFor(scenario: ScenarioName): HarnessOptions {
  if (scenario !== "scale" || opts.addresses !== undefined) return defaultHarness;
  return { ...defaultHarness, localAddresses: addresses(16) };
}

function addresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
}

function describeScenario(scenario: ScenarioName, p: ScenarioParams): string {
  switch (scenario) {
    case "unicast":
      return `unicast: ${p.clients} users, ${p.rate} notifications/s to random users for ${p.durationS} s (${p.payloadBytes} B, after ${p.warmupS} s warm-up)`;
    case "broadcast":
      return `broadcast: ${p.clients} sockets on one channel, ${p.rate} notifications/s for ${p.durationS} s (${p.payloadBytes} B, after ${p.warmupS} s warm-up)`;
    case "storm":
      return `storm: ${p.clients} clients connecting and authenticating at once`;
    case "idle":
      return `idle: ${p.clients} idle authenticated connections (open-files limit ${limit.soft} per process)`;
    case "reconnect":
      return `reconnect: ${p.clients} clients on gateway A (history on) while ${p.rate} acknowledged publishes/s go to random users; A is SIGKILLed after ${p.warmupS} s; every client reconnects at once with recover to gateway B (same nats-server)`;
    case "churn":
      return `churn: ${p.clients} clients each subscribing to a channel of their own (authorized by the backend) and unsubscribing again, at most 8 cycles/s each, for ${p.durationS} s (after ${p.warmupS} s warm-up)`;
    case "inbox":
      return `inbox: ${p.clients} clients connecting at once (with and without --inbox), then with the inbox: pages of 50 items, marks reaching a second gateway, ${p.rate} notifications/s to the connected users for ${p.durationS} s and their counts checked`;
    case "scale":
      return `scale: ${p.clients} clients on one gateway port, herald gateway --workers ${p.workers} (history on; workers for the open-files limit of ${limit.soft}), every server process on core(s) ${defaultHarness.serverCore}, the load on ${defaultHarness.clientCore}: connect in waves, memory, idle CPU, a broadcast to all, ${p.rate} unicast/s for ${p.durationS} s, then a worker SIGKILLed while ${p.rate} acknowledged publishes/s go on; its clients reconnect with recover to the same port`;
    case "slow":
      return `slow: ${p.clients} clients on one channel, ${p.rate} notifications/s for ${p.durationS} s (${p.payloadBytes} B, after ${p.warmupS} s warm-up), three runs: without, with ${p.stalled} clients that stopped reading, without again`;
  }
}

/**
 * A run that lost or duplicated a message, or could not recover a client, fails the bench; so does
 * a churn that was refused, closed a client or left a subscription behind.
 */
const GUARANTEES: Partial<Record<ScenarioName, readonly string[]>> = {
  reconnect: ["lost", "duplicated", "gapsByPrev", "notRecovered", "failed", "publishFailed"],
  churn: ["refused", "closed", "subjectsLeft", "subscriptionsLeft"],
  inbox: ["notifyFailed", "countsWrong"],
  scale: [
    "failed",
    "broadcastLost",
    "unicastLost",
    "notBack",
    "notRecovered",
    "lost",
    "duplicated",
    "gapsByPrev",
  ],
};

function brokenGuarantees(scenario: ScenarioName, results: readonly SystemResult[]): string {
  const keys = GUARANTEES[scenario];
  if (!keys) return "";
  const broken: string[] = [];
  for (const r of results) {
    if (!r.ok) continue;
    const f = r.figures;
    const bad = keys.filter((key) => (f[key] ?? 0) > 0);
    if (bad.length > 0) broken.push(`${r.system}: ${bad.map((key) => `${key} ${f[key]}`).join(", ")}`);
  }
  return broken.join("; ");
}

function pickList<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !allowed.includes(n as T));
  if (bad.length > 0 || names.length === 0)
    fail(`${flag}: unknown ${bad.join(", ") || "(empty)"}; choose from ${allowed.join(", ")}`);
  return names as T[];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive whole number");
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a number >= 0");
  return n;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

export type { SystemName };

main().then(
  async (code) => {
    await stopAll();
    process.exit(code);
  },
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll();
    process.exit(1);
  },
);
