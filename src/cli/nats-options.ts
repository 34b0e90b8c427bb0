import type { Command } from "commander";
import type { HeraldConnectOptions } from "../backend/index.js";
import { OPTION_SPECS } from "../gateway/config/options.js";
import { NATS_CONNECTION_OPTIONS, natsAccess, natsUserWithPassword } from "../nats/connection-options.js";
import type { OptionSpecs, OptionValues } from "../options/option-spec.js";
import { type ArgumentInputs, type CommandLineSettings, readCommandLine } from "./command-line.js";
import { readLocalNatsUrl } from "./local-nats-file.js";

const { nats, ...natsAccessOptions } = NATS_CONNECTION_OPTIONS;

/**
 * The options of every command that talks to NATS as a backend does: the gateway's NATS servers,
 * credentials, TLS and prefix, with the same flags and environment names.
 */
export const BACKEND_OPTIONS = {
  nats: {
    ...nats,
    placeholder: "servers",
    description:
      "NATS servers, comma-separated; by default the one a `herald start` in this folder or above runs",
  },
  prefix: { ...OPTION_SPECS.prefix, placeholder: "prefix" },
  ...natsAccessOptions,
};
type BackendOptions = OptionValues<typeof BACKEND_OPTIONS>;

/**
 * A backend command's arguments and options, read as every command reads them; unset, `--nats` is
 * the nats-server a `herald start` runs in this folder or above, if any.
 */
export function readBackendCommandLine<
  T extends OptionSpecs & typeof BACKEND_OPTIONS,
  A extends ArgumentInputs = Record<never, never>,
>(command: Command, specs: T, settings: CommandLineSettings<T, A> = {}) {
  const local = readLocalNatsUrl();
  return readCommandLine(command, specs, {
    ...settings,
    ...(local === undefined ? {} : { defaults: { nats: [local] } as CommandLineSettings<T, A>["defaults"] }),
    checks: [natsUserWithPassword, ...(settings.checks ?? [])],
  });
}

/** How HeraldBackend.connect reaches NATS with a command's options. */
export function backendConnection(options: BackendOptions, timeout: number): HeraldConnectOptions {
  return { ...natsAccess(options), prefix: options.prefix, timeout, name: "herald-cli" };
}
