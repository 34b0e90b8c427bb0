import { readFileSync } from "node:fs";
import * as v from "valibot";

const PackageJson = v.object({ version: v.string() });

/** Herald's version from package.json, two folders up from both src/cli and dist/cli. */
export function heraldVersion(): string {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    return v.parse(PackageJson, JSON.parse(text)).version;
  } catch {
    return "unknown";
  }
}
