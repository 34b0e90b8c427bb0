import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import * as v from "valibot";
import { OPTION_SPECS } from "../../gateway/config/options.js";
import { packageRoot } from "../../local/package-root.js";
import { NATS_CONNECTION_OPTIONS } from "../../nats/connection-options.js";
import { type OptionValues, option } from "../../options/option-spec.js";
import { DEFAULT_PREFIX } from "../../protocol/index.js";
import { CliError, ExitCode } from "../cli-error.js";
import { addOptions, readCommandLine } from "../command-line.js";
import { writeLocalNatsUrl } from "../local-nats-file.js";

const { nats } = NATS_CONNECTION_OPTIONS;

/** The options of `herald start`; those it passes on to the gateway are the gateway's own. */
const START_OPTIONS = {
  nats: option({
    ...nats,
    schema: v.optional(nats.schema),
    default: undefined,
    placeholder: "servers",
    description: "use these NATS servers instead of starting nats-server",
  }),
  dataDir: option({
    schema: v.optional(v.pipe(v.string(), v.minLength(1))),
    default: undefined,
    env: false,
    placeholder: "dir",
    description: "JetStream folder of the embedded nats-server (default: a temporary one)",
  }),
  host: option({
    ...OPTION_SPECS.host,
    default: "127.0.0.1",
    env: false,
    placeholder: "host",
    description: "address the demo page and the gateway listen on",
  }),
  port: option({
    ...OPTION_SPECS.port,
    default: 3000,
    env: false,
    description: "demo page port (another free one when taken)",
  }),
  gatewayPort: option({
    ...OPTION_SPECS.port,
    default: 8080,
    env: false,
    description: "gateway port (another free one when taken)",
  }),
  prefix: { ...OPTION_SPECS.prefix, placeholder: "prefix" },
  gatewayUrl: option({
    schema: v.optional(v.pipe(v.string(), v.regex(/^wss?:\/\/[^\s]+$/, "must be like wss://host/ws"))),
    default: undefined,
    env: false,
    placeholder: "url",
    description: "WebSocket URL the page connects to (default: the gateway started here)",
  }),
  logLevel: option({
    ...OPTION_SPECS.logLevel,
    default: "warn",
    env: false,
    placeholder: "level",
    description: "gateway log level",
  }),
};
type StartInput = OptionValues<typeof START_OPTIONS>;

/** `herald start`: NATS (embedded when none is given), a gateway and the demo page, in one command. */
export function startCommand(): Command {
  const command = new Command("start").description(
    "Run the demo on this machine: nats-server (unless --nats), a gateway and the demo page",
  );
  addOptions(command, START_OPTIONS);
  return command.action(async (_options: unknown, self: Command) => {
    process.exitCode = await runStart(readCommandLine(self, START_OPTIONS));
  });
}

async function runStart(input: StartInput): Promise<number> {
  // Loaded here so the other commands do not pay for the gateway's and the demo's dependencies.
  const { defaultClientBundle } = await import("../../demo/asset-paths.js");
  const { findNatsServer } = await import("../../local/find-nats-server.js");
  const { probePort } = await import("../../local/ports.js");
  const { startLocalStack } = await import("../../demo/local-stack.js");
  const say = (line = "") => process.stdout.write(`${line}\n`);

  const natsBinary = input.nats?.length ? undefined : ensureNatsServer(findNatsServer, packageRoot());
  if (!existsSync(defaultClientBundle())) {
    say(`warning: ${defaultClientBundle()} is missing, the page cannot connect; run npm run build`);
  }
  // Listening from now on: a Ctrl-C during startup must not leave the nats-server child behind
  // (it runs in its own process group, so the terminal's signal does not reach it).
  const signalled = waitForSignal();
  const port = await choosePort(probePort, input.host, input.port, "demo page", say);
  const gatewayPort = await choosePort(probePort, input.host, input.gatewayPort, "gateway", say);

  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack({
      ...(input.nats?.length ? { nats: input.nats } : {}),
      ...(natsBinary ? { natsBinary } : {}),
      ...(input.dataDir !== undefined ? { dataDir: input.dataDir } : {}),
      host: input.host,
      port,
      gatewayPort,
      prefix: input.prefix,
      ...(input.gatewayUrl !== undefined ? { pageGatewayUrl: input.gatewayUrl } : {}),
      logLevel: input.logLevel,
      gatewayEnv: process.env,
    });
  } catch (error) {
    throw new CliError(
      `cannot start the demo: ${error instanceof Error ? error.message : error}`,
      ExitCode.Failure,
      {
        cause: error,
      },
    );
  }
  // Last resort when something exits the process without stopping the stack: no orphan nats-server.
  const killNats = () => void stack.embeddedNats?.kill();
  process.once("exit", killNats);
  const removeUrlFile = stack.embeddedNats ? writeLocalNatsUrl(stack.embeddedNats.url) : () => undefined;

  const publishFlags = [
    ...(stack.embeddedNats ? [] : [`--nats ${stack.natsUrl}`]),
    ...(input.prefix !== DEFAULT_PREFIX ? [`--prefix ${input.prefix}`] : []),
  ];
  say();
  say("Herald demo is running.");
  say();
  say(`  Open       ${stack.pageUrl}`);
  say(`  Gateway    ${stack.gatewayUrl}`);
  say(
    stack.embeddedNats
      ? `  NATS       ${stack.natsUrl} (embedded nats-server, JetStream in ${stack.embeddedNats.storeDir})`
      : `  NATS       ${stack.natsUrl}`,
  );
  say();
  say("Send a notification from another terminal in this folder:");
  say(`  npx herald publish alice "hello!"${publishFlags.map((f) => ` ${f}`).join("")}`);
  if (stack.embeddedNats)
    say(`  (herald publish finds the embedded NATS in .herald/nats-url; or pass --nats ${stack.natsUrl})`);
  say();
  say("Press Ctrl-C to stop.");

  const natsExited = stack.embeddedNats?.exited.then((code): StopReason => ({ kind: "nats-exited", code }));
  const reason = await Promise.race([signalled, ...(natsExited ? [natsExited] : [])]);
  if (reason.kind === "nats-exited") say(`nats-server exited unexpectedly (code ${reason.code}); stopping`);
  else say(`\n${reason.signal}: stopping`);
  // A second signal while stopping ends the process at once, taking nats-server down with it.
  const forceExit = () => {
    killNats();
    removeUrlFile();
    process.exit(ExitCode.Failure);
  };
  process.on("SIGINT", forceExit);
  process.on("SIGTERM", forceExit);
  await stack.stop();
  removeUrlFile();
  say("stopped");
  return reason.kind === "signal" ? ExitCode.Ok : ExitCode.Failure;
}

type StopReason = { kind: "signal"; signal: NodeJS.Signals } | { kind: "nats-exited"; code: number | null };

/** The first SIGINT or SIGTERM; while it is awaited, neither signal ends the process by itself. */
function waitForSignal(): Promise<StopReason> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve({ kind: "signal", signal });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/**
 * The nats-server binary; when it is missing, Debian's package is installed where that is possible
 * (root with apt-get, by scripts/ensure-system.sh), otherwise the command stops with what to do.
 */
function ensureNatsServer(find: () => string | undefined, root: string): string {
  const found = find();
  if (found) return found;
  const script = join(root, "scripts", "ensure-system.sh");
  // Installing takes root; anyone else gets the instructions below.
  if (process.getuid?.() === 0 && existsSync(script)) spawnSync("bash", [script], { stdio: "inherit" });
  const installed = find();
  if (installed) return installed;
  throw new CliError(
    [
      "nats-server is not installed, and herald start needs it to run NATS on this machine.",
      "Install it with `sudo apt-get install nats-server` (Debian, Ubuntu), `brew install nats-server` (macOS),",
      "or from https://github.com/nats-io/nats-server/releases; or pass --nats <url> to use a running NATS server.",
    ].join("\n"),
    ExitCode.Failure,
  );
}

/** The wanted port when it is free, else another free one, said out loud. */
async function choosePort(
  probe: (host: string, port: number) => Promise<number | undefined>,
  host: string,
  wanted: number,
  what: string,
  say: (line: string) => void,
): Promise<number> {
  let free: number | undefined;
  try {
    free = await probe(host, wanted);
  } catch (error) {
    throw new CliError(
      `cannot listen on ${host}: ${error instanceof Error ? error.message : error}`,
      ExitCode.Failure,
    );
  }
  if (free !== undefined) return free;
  const other = await probe(host, 0);
  if (other === undefined) throw new CliError(`no free port on ${host} for the ${what}`, ExitCode.Failure);
  say(`port ${wanted} is in use; the ${what} uses port ${other} instead`);
  return other;
}
