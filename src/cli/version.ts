import { packageManifest } from "./package-root.js";

/** Herald's version from its package.json, or "unknown" when that cannot be read. */
export function heraldVersion(): string {
  try {
    return packageManifest().version;
  } catch {
    return "unknown";
  }
}
