import { Command, Option } from "commander";
import {
  ConfigError,
  GATEWAY_OPTIONS,
  type GatewayConfig,
  type GatewayConfigKey,
  loadGatewayConfig,
  redactConfig,
} from "../../gateway/config.js";
import { CliError, ExitCode } from "../cli-error.js";
import { runCluster, workerIndex } from "../gateway-cluster.js";
import { formatDefault } from "../options-table.js";
import { stopOnSignals } from "../shutdown.js";

/** `herald gateway`: one flag per gateway option, plus --config and --print-config. */
export function gatewayCommand(): Command {
  const command = new Command("gateway")
    .description("Run a gateway: WebSockets at /ws, auth and delivery over NATS")
    .option("--config <file>", "JSON config file (env HERALD_CONFIG); flags and environment win over it")
    .option("--print-config", "print the effective configuration (secrets masked) as JSON and exit");

  // Flag name -> option key: commander names values by camel-casing the flag, which need not be the key.
  const attributes = new Map<GatewayConfigKey, string>();
  for (const [key, def] of Object.entries(GATEWAY_OPTIONS) as [
    GatewayConfigKey,
    (typeof GATEWAY_OPTIONS)[GatewayConfigKey],
  ][]) {
    const help = `${def.description} (env ${def.env}, default ${formatDefault(key, def.default)})`;
    if (def.kind === "bool") {
      // `--history`, `--history false` and `--no-history` all work; no value given keeps env/file/default.
      const option = new Option(`${def.flag} [true|false]`, help);
      command.addOption(option);
      command.addOption(new Option(`--no-${def.flag.slice(2)}`, `same as ${def.flag} false`));
      attributes.set(key, option.attributeName());
    } else {
      const option = new Option(
        `${def.flag} <${def.kind === "int" ? "n" : def.kind === "list" ? "a,b" : "value"}>`,
        help,
      );
      command.addOption(option);
      attributes.set(key, option.attributeName());
    }
  }

  return command.action(async (options: Record<string, unknown>) => {
    const flags: Partial<Record<GatewayConfigKey, unknown>> = {};
    for (const [key, attribute] of attributes) {
      if (options[attribute] !== undefined) flags[key] = options[attribute];
    }
    const config = loadConfig(flags, options.config);
    if (options.printConfig) {
      process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
      return;
    }
    process.exitCode = await runGateway(config);
  });
}

function loadConfig(flags: Partial<Record<GatewayConfigKey, unknown>>, configFile: unknown): GatewayConfig {
  try {
    return loadGatewayConfig({
      flags,
      env: process.env,
      ...(typeof configFile === "string" ? { configFile } : {}),
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, ExitCode.Usage, { cause: error });
    throw error;
  }
}

/** Starts the gateway and resolves with the exit code once a signal has stopped it. */
async function runGateway(config: GatewayConfig): Promise<number> {
  // Loaded here so `herald publish` and `herald config` do not pay for the gateway's dependencies.
  const { createLogger, installProcessGuard, startGateway } = await import("../../gateway/index.js");
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
    gateway = await startGateway(config, { logger });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`cannot start the gateway: ${reason}`, ExitCode.Failure, { cause: error });
  }
  return stopOnSignals(gateway, logger);
}
