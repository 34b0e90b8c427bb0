import { type Command, Option } from "commander";
import type * as v from "valibot";
import type { HeraldConnectOptions } from "../backend/index.js";
import { GATEWAY_OPTIONS } from "../gateway/options.js";
import {
  NATS_CONNECTION_OPTIONS,
  NatsSettingsSchema,
  natsAccess,
  unpairedNatsOptions,
} from "../nats/connection-options.js";
import { describeEnvOptions } from "../options/option-spec.js";
import { SubjectPrefix } from "../protocol/index.js";
import { CliError, ExitCode } from "./cli-error.js";
import { NatsServerList } from "./cli-schemas.js";
import { readLocalNatsUrl } from "./local-nats-file.js";

/** The NATS connection options as flags and environment names: the gateway's, for every command. */
export const NATS_FLAGS = describeEnvOptions(NATS_CONNECTION_OPTIONS);

/** The flags of every command that talks to NATS as a backend does (`publish`, `disconnect`). */
export interface NatsFlags {
  nats?: string;
  prefix: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
}

/** Their checks, for a command's input schema: the gateway's, with `--nats` as a comma-separated list. */
export const NatsInputEntries = {
  ...NatsSettingsSchema.entries,
  nats: NatsServerList,
  prefix: SubjectPrefix,
};

type NatsInput = v.InferOutput<v.ObjectSchema<typeof NatsInputEntries, undefined>>;

/** Adds --nats, --prefix and the NATS credentials and TLS, each with the gateway's environment name. */
export function withNatsOptions(command: Command): Command {
  command
    .addOption(
      new Option(
        `${NATS_FLAGS.nats.flag} <servers>`,
        "NATS servers, comma-separated (default: the one `herald start` runs, else nats://127.0.0.1:4222)",
      ).env(NATS_FLAGS.nats.env),
    )
    .addOption(prefixOption());
  for (const [key, def] of Object.entries(NATS_FLAGS)) {
    if (key !== "nats") command.addOption(new Option(`${def.flag} <value>`, def.description).env(def.env));
  }
  return command;
}

/** `--prefix` with the gateway's flag, environment name, description and default. */
export function prefixOption(): Option {
  const { flag, env, description } = GATEWAY_OPTIONS.prefix;
  return new Option(`${flag} <prefix>`, description).env(env).default(GATEWAY_OPTIONS.prefix.default);
}

/** `--nats` as given, else the server `herald start` runs, else the default local one. */
export function natsServers(flags: NatsFlags): string {
  return flags.nats ?? readLocalNatsUrl() ?? "nats://127.0.0.1:4222";
}

/** How HeraldBackend.connect reaches NATS for a command line's input. */
export function backendConnection(input: NatsInput, timeout: number): HeraldConnectOptions {
  const unpaired = unpairedNatsOptions(input);
  if (unpaired) {
    const flags = unpaired.map((key) => NATS_FLAGS[key as keyof typeof NATS_FLAGS].flag);
    throw new CliError(`${flags.join(" and ")} go together`, ExitCode.Usage);
  }
  return { ...natsAccess(input), prefix: input.prefix, timeout, name: "herald-cli" };
}
