import { packageManifest } from "../local/package-root.js";

/** Herald's version from its package.json, or "unknown" when that cannot be read. */
export function heraldVersion(): string {
  try {
    return packageManifest().version;
  } catch {
    return "unknown";
  }
}
