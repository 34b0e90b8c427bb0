import { HeraldBackend, isHeraldBackendError } from "../backend/index.js";
import type { OptionValues } from "../options/option-spec.js";
import { CliError, ExitCode } from "./cli-error.js";
import { type BACKEND_OPTIONS, backendConnection } from "./nats-options.js";

/** Connects as a backend for `herald events` and `herald online`: an unreachable NATS exits with 1. */
export async function connectBackend(
  options: OptionValues<typeof BACKEND_OPTIONS>,
  name: string,
): Promise<HeraldBackend> {
  return HeraldBackend.connect({ ...backendConnection(options, 5000), name }).catch(asCliError);
}

/** The backend SDK's errors as the command's: a name or option it refuses is a usage error (exit 2). */
export function asCliError(error: unknown): never {
  if (isHeraldBackendError(error)) {
    const usage = error.code === "UNSAFE_NAME" || error.code === "INVALID_OPTIONS";
    throw new CliError(error.message, usage ? ExitCode.Usage : ExitCode.Failure, { cause: error });
  }
  throw error;
}
