import { Empty, type SystemName } from "../lib/commands.js";
import { findProfile, type ProfileSummary, summarizeProfile } from "../lib/cpu-profile.js";
import type { IpcClient } from "../lib/ipc.js";
import { failOnUnexpectedExit, type ManagedProcess } from "../lib/processes.js";
import { launchHelper, startSystem } from "../systems/system.js";
import { measureChurn } from "./churn.js";
import type { Loadgen, RunContext } from "./context.js";
import type { HarnessOptions, ScenarioName, ScenarioParams, SystemResult } from "./definitions.js";
import { measureDelivery } from "./delivery.js";
import { measureIdle } from "./idle.js";
import { measureInbox } from "./inbox.js";
import { measureReconnect } from "./reconnect.js";
import { measureScale } from "./scale.js";
import { measureSlow } from "./slow.js";
import { measureStorm } from "./storm.js";

/** Runs one scenario against one system: starts everything, measures, stops everything. */
export async function runScenario(
  scenario: ScenarioName,
  systemName: SystemName,
  params: ScenarioParams,
  options: HarnessOptions,
): Promise<SystemResult> {
  const profileDir = options.profileDir ? `${options.profileDir}/${scenario}` : undefined;
  const system = await startSystem(systemName, {
    serverCore: options.serverCore,
    clientCore: options.clientCore,
    profileDir,
    verbose: options.verbose,
    gatewayArgs:
      params.workers > 1
        ? [...options.gatewayArgs, "--workers", String(params.workers)]
        : options.gatewayArgs,
  });
  const helpers: { process: ManagedProcess; ipc: IpcClient }[] = [];
  const loadgens: Loadgen[] = [];
  let stalledLoadgen: Loadgen | undefined;
  let window: { fromNs: number; toNs: number } | undefined;
  let profileName: string = systemName;
  let result: { figures: Record<string, number>; details: Record<string, unknown> } | undefined;
  try {
    const shards = Math.max(1, Math.ceil(params.clients / options.clientsPerLoadgen));
    const perShard = Math.ceil(params.clients / shards);
    for (let i = 0; i < shards; i++) {
      const helper = launchHelper(`loadgen-${i + 1}`, "loadgen.ts", [], options.clientCore, {
        verbose: options.verbose,
        nodeArgs: [
          "--max-old-space-size=4096",
          ...(profileDir && options.profileLoadgen && i === 0
            ? ["--cpu-prof", "--cpu-prof-dir", `${profileDir}/${systemName}-loadgen`]
            : []),
        ],
      });
      helpers.push(helper);
      const firstUser = i * perShard;
      loadgens.push({ ...helper, firstUser, count: Math.min(perShard, params.clients - firstUser) });
    }
    if (scenario === "slow") {
      const helper = launchHelper("loadgen-stalled", "loadgen.ts", [], options.clientCore, {
        verbose: options.verbose,
      });
      helpers.push(helper);
      stalledLoadgen = { ...helper, firstUser: params.clients, count: params.stalled };
    }
    await Promise.all(
      [...loadgens, ...(stalledLoadgen ? [stalledLoadgen] : [])].map((l) => l.ipc.ready(30_000)),
    );
    let publisher: { process: ManagedProcess; ipc: IpcClient } | undefined;
    if (
      scenario === "unicast" ||
      scenario === "broadcast" ||
      scenario === "slow" ||
      scenario === "reconnect" ||
      scenario === "scale"
    ) {
      publisher = launchHelper(
        "publisher",
        "publisher.ts",
        [system.publisher.kind, system.publisher.url],
        options.clientCore,
        {
          verbose: options.verbose,
        },
      );
      helpers.push(publisher);
      await publisher.ipc.ready(30_000);
    }
    const context: RunContext = {
      scenario,
      system,
      params,
      options,
      loadgens,
      stalledLoadgen,
      publisher,
      helpers,
    };
    const body = async () => {
      switch (scenario) {
        case "unicast":
        case "broadcast":
          return measureDelivery(context);
        case "storm":
          return measureStorm(context);
        case "idle":
          return measureIdle(context);
        case "slow":
          return measureSlow(context);
        case "reconnect":
          return measureReconnect(context);
        case "churn":
          return measureChurn(context);
        case "inbox":
          return measureInbox(context);
        case "scale":
          return measureScale(context);
      }
    };
    const measured = await Promise.race([body(), failOnUnexpectedExit(system.serverProcesses)]);
    result = measured;
    window = measured.window;
    profileName = measured.profileName ?? systemName;
  } finally {
    for (const loadgen of [...loadgens, ...(stalledLoadgen ? [stalledLoadgen] : [])]) {
      await loadgen.ipc.request({ type: "close" }, Empty, 30_000).catch(() => undefined);
    }
    for (const helper of helpers.reverse()) await helper.process.stop(5000);
    await system.stop();
  }
  if (!result) throw new Error("no result");
  let profile: ProfileSummary | undefined;
  let loadgenProfile: ProfileSummary | undefined;
  if (profileDir && system.nodeServer) {
    const file = await findProfile(`${profileDir}/${profileName}`);
    if (file) profile = await summarizeProfile(file, window);
  }
  if (profileDir && options.profileLoadgen) {
    const file = await findProfile(`${profileDir}/${systemName}-loadgen`);
    if (file) loadgenProfile = await summarizeProfile(file, window);
  }
  return {
    system: systemName,
    ok: true,
    figures: result.figures,
    details: result.details,
    ...(profile ? { profile } : {}),
    ...(loadgenProfile ? { loadgenProfile } : {}),
  };
}
