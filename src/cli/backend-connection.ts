import * as v from "valibot";
import { HeraldBackend, isHeraldBackendError } from "../backend/index.js";
import { CliError, ExitCode } from "./cli-error.js";
import { backendConnection, type NatsFlags, NatsInputEntries, natsServers } from "./nats-options.js";

const NatsInput = v.object(NatsInputEntries);

/**
 * Connects as a backend for `herald events` and `herald online` (flags from `withNatsOptions`):
 * bad flags exit with 2, an unreachable NATS with 1.
 */
export async function connectBackend(flags: NatsFlags, name: string): Promise<HeraldBackend> {
  const parsed = v.safeParse(NatsInput, { ...flags, nats: natsServers(flags) });
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const key = String(issue?.path?.[0]?.key ?? "");
    throw new CliError(
      `invalid --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue?.message}`,
      ExitCode.Usage,
    );
  }
  return HeraldBackend.connect({ ...backendConnection(parsed.output, 5000), name }).catch(asCliError);
}

export function asCliError(error: unknown): never {
  if (isHeraldBackendError(error)) {
    const usage = error.code === "UNSAFE_NAME" || error.code === "INVALID_OPTIONS";
    throw new CliError(error.message, usage ? ExitCode.Usage : ExitCode.Failure, { cause: error });
  }
  throw error;
}
