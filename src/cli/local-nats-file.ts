import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as v from "valibot";

/**
 * `herald start` runs its own nats-server on a free port and writes its URL to `.herald/nats-url`
 * (and its own pid to `.herald/nats.pid`) in the folder it runs in, so that `herald publish` from
 * another terminal in that folder or below finds it without flags.
 */
const DIR = ".herald";
const URL_FILE = "nats-url";
const PID_FILE = "nats.pid";

const LocalNatsUrl = v.pipe(v.string(), v.trim(), v.regex(/^nats:\/\/[^\s/]+$/));
const Pid = v.pipe(v.string(), v.trim(), v.regex(/^\d+$/), v.transform(Number));

/** Writes the files; returns a function that removes them unless another `herald start` took over. */
export function writeLocalNatsUrl(url: string, folder = process.cwd()): () => void {
  const dir = join(folder, DIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, URL_FILE), `${url}\n`);
  writeFileSync(join(dir, PID_FILE), `${process.pid}\n`);
  return () => {
    if (readPid(join(dir, PID_FILE)) !== process.pid) return;
    rmSync(join(dir, URL_FILE), { force: true });
    rmSync(join(dir, PID_FILE), { force: true });
  };
}

/** The URL of a running `herald start`'s nats-server, found from `from` upwards; undefined if none runs. */
export function readLocalNatsUrl(from = process.cwd()): string | undefined {
  let folder = from;
  for (;;) {
    const dir = join(folder, DIR);
    const url = readUrl(join(dir, URL_FILE));
    if (url !== undefined) {
      const pid = readPid(join(dir, PID_FILE));
      // A file left behind by a `herald start` that was killed points at nothing.
      return pid !== undefined && isAlive(pid) ? url : undefined;
    }
    const parent = dirname(folder);
    if (parent === folder) return undefined;
    folder = parent;
  }
}

function readUrl(path: string): string | undefined {
  const parsed = v.safeParse(LocalNatsUrl, readText(path));
  return parsed.success ? parsed.output : undefined;
}

function readPid(path: string): number | undefined {
  const parsed = v.safeParse(Pid, readText(path));
  return parsed.success ? parsed.output : undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
