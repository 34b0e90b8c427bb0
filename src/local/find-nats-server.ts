import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Debian installs nats-server to /usr/sbin, which is not on an ordinary user's PATH. */
const EXTRA_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"];

/** The nats-server executable from PATH (or Debian's usual places), or undefined when there is none. */
export function findNatsServer(path = process.env.PATH ?? ""): string | undefined {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...EXTRA_DIRS]) {
    const candidate = join(dir, "nats-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
