import { type Command, Option } from "commander";
import * as v from "valibot";
import { HeraldBackend, isHeraldBackendError } from "../backend/index.js";
import { DEFAULT_PREFIX, SubjectPrefix } from "../protocol/index.js";
import { CliError, ExitCode } from "./cli-error.js";
import { NatsServerList } from "./cli-schemas.js";
import { readLocalNatsUrl } from "./local-nats-file.js";

/** The NATS flags of the commands that act as a backend (`herald events`, `herald online`). */
export interface BackendFlags {
  nats?: string;
  prefix: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
}

const BackendInput = v.object({
  nats: NatsServerList,
  prefix: SubjectPrefix,
  natsUser: v.optional(v.string()),
  natsPassword: v.optional(v.string()),
  natsToken: v.optional(v.string()),
});

export function addBackendOptions(command: Command): Command {
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

/** Checks the flags, then connects; bad flags exit with 2, an unreachable NATS with 1. */
export async function connectBackend(flags: BackendFlags, name: string): Promise<HeraldBackend> {
  const parsed = v.safeParse(BackendInput, {
    ...flags,
    nats: flags.nats ?? readLocalNatsUrl() ?? "nats://127.0.0.1:4222",
  });
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const key = String(issue?.path?.[0]?.key ?? "");
    throw new CliError(
      `invalid --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue?.message}`,
      ExitCode.Usage,
    );
  }
  const input = parsed.output;
  return HeraldBackend.connect({
    servers: input.nats,
    prefix: input.prefix,
    name,
    ...(input.natsUser !== undefined ? { user: input.natsUser } : {}),
    ...(input.natsPassword !== undefined ? { pass: input.natsPassword } : {}),
    ...(input.natsToken !== undefined ? { token: input.natsToken } : {}),
  }).catch(asCliError);
}

export function asCliError(error: unknown): never {
  if (isHeraldBackendError(error)) {
    const usage = error.code === "UNSAFE_NAME" || error.code === "INVALID_OPTIONS";
    throw new CliError(error.message, usage ? ExitCode.Usage : ExitCode.Failure, { cause: error });
  }
  throw error;
}
