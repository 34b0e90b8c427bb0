import { type Command, Option } from "commander";
import * as v from "valibot";
import type { HeraldConnectOptions } from "../backend/index.js";
import { DEFAULT_PREFIX, SubjectPrefix } from "../protocol/index.js";
import { NatsServerList } from "./cli-schemas.js";
import { readLocalNatsUrl } from "./local-nats-file.js";

/** The flags of every command that talks to NATS as a backend does (`publish`, `disconnect`). */
export interface NatsFlags {
  nats?: string;
  prefix: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
}

/** Their checks, for a command's input schema. */
export const NatsInputEntries = {
  nats: NatsServerList,
  prefix: SubjectPrefix,
  natsUser: v.optional(v.string()),
  natsPassword: v.optional(v.string()),
  natsToken: v.optional(v.string()),
};

type NatsInput = v.InferOutput<v.ObjectSchema<typeof NatsInputEntries, undefined>>;

/** Adds --nats, --prefix and the NATS credentials, each with its environment variable. */
export function withNatsOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--nats <servers>",
        "NATS servers, comma-separated (default: the one `herald start` runs, else nats://127.0.0.1:4222)",
      ).env("HERALD_NATS_URL"),
    )
    .addOption(new Option("--prefix <prefix>", "subject prefix").env("HERALD_PREFIX").default(DEFAULT_PREFIX))
    .addOption(new Option("--nats-user <user>", "NATS user name").env("HERALD_NATS_USER"))
    .addOption(new Option("--nats-password <password>", "NATS password").env("HERALD_NATS_PASSWORD"))
    .addOption(new Option("--nats-token <token>", "NATS token").env("HERALD_NATS_TOKEN"));
}

/** `--nats` as given, else the server `herald start` runs, else the default local one. */
export function natsServers(flags: NatsFlags): string {
  return flags.nats ?? readLocalNatsUrl() ?? "nats://127.0.0.1:4222";
}

/** How HeraldBackend.connect reaches NATS for a command line's input. */
export function backendConnection(input: NatsInput, timeout: number): HeraldConnectOptions {
  return {
    servers: input.nats,
    prefix: input.prefix,
    timeout,
    name: "herald-cli",
    ...(input.natsUser !== undefined ? { user: input.natsUser } : {}),
    ...(input.natsPassword !== undefined ? { pass: input.natsPassword } : {}),
    ...(input.natsToken !== undefined ? { token: input.natsToken } : {}),
  };
}
