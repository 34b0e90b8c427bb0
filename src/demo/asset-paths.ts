import { join } from "node:path";
import { packageRoot } from "../local/package-root.js";

/** The demo page's files, served as they are. */
export function defaultPublicDir(): string {
  return join(packageRoot(), "demo", "public");
}

/** The client SDK as one script (`npm run build` makes it). */
export function defaultClientBundle(): string {
  return join(packageRoot(), "dist", "client", "herald-client.min.js");
}
