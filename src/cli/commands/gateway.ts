import { Command } from "commander";
import * as v from "valibot";
import {
  CONFIG_FILE_OPTION,
  type GatewayConfig,
  loadGatewayConfig,
  redactConfig,
} from "../../gateway/config/config.js";
import { OPTION_SPECS } from "../../gateway/config/options.js";
import { option } from "../../options/option-spec.js";
import { CliError, ExitCode } from "../cli-error.js";
import { addOptions, givenFlags, readCommandLine } from "../command-line.js";
import { stopOnSignals } from "../shutdown.js";

/** The command's own options, beside the gateway's. */
const GATEWAY_COMMAND_OPTIONS = {
  config: CONFIG_FILE_OPTION,
  printConfig: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "print the effective configuration (secrets masked) as JSON and exit",
  }),
};

/** `herald gateway`: one flag per gateway option, plus --config and --print-config. */
export function gatewayCommand(): Command {
  const command = new Command("gateway").description(
    "Run a gateway: WebSockets at /ws, auth and delivery over NATS",
  );
  addOptions(command, GATEWAY_COMMAND_OPTIONS);
  addOptions(command, OPTION_SPECS);
  return command.action(async (_options: unknown, self: Command) => {
    const { config: configFile, printConfig } = readCommandLine(self, GATEWAY_COMMAND_OPTIONS);
    // A bad value throws ConfigError: a usage error (exit 2), as for every command.
    const config = loadGatewayConfig({ flags: givenFlags(self, OPTION_SPECS), env: process.env, configFile });
    if (printConfig) {
      process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
      return;
    }
    process.exitCode = await runGateway(config);
  });
}

/** Starts the gateway and resolves with the exit code once a signal has stopped it. */
async function runGateway(config: GatewayConfig): Promise<number> {
  // Loaded here so `herald publish` and `herald config` do not pay for the gateway's dependencies.
  const { createLogger, installProcessGuard, startGateway } = await import("../../gateway/index.js");
  const { runCluster, workerIndex, workerMetricsExposition } = await import("../gateway-cluster.js");
  const worker = workerIndex();
  if (worker === undefined && config.workers > 1) {
    return runCluster(config.workers, createLogger(config.logLevel, config.gatewayId));
  }
  if (worker !== undefined) config = { ...config, gatewayId: `${config.gatewayId}-w${worker}` };
  const logger = createLogger(config.logLevel, config.gatewayId);
  // One socket's bug must not end every other socket's connection.
  installProcessGuard(logger);
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(config, {
      logger,
      // a scrape reaching any worker answers with the figures of them all
      ...(worker !== undefined && { metricsExposition: workerMetricsExposition }),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`cannot start the gateway: ${reason}`, ExitCode.Failure, { cause: error });
  }
  return stopOnSignals(gateway, logger);
}
