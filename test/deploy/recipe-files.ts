import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import { GATEWAY_OPTIONS, type GatewayConfig, loadGatewayConfig } from "../../src/gateway/config/config.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export function readRecipe(path: string): string {
  return readFileSync(join(ROOT, "deploy", path), "utf8");
}

const Manifest = v.object({
  version: v.string(),
  bin: v.object({ herald: v.string() }),
  files: v.array(v.string()),
});
export const manifest = v.parse(Manifest, JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")));

/** Where `npm install herald` puts the command's script, below the folder it ran in. */
export const INSTALLED_SCRIPT = `node_modules/herald/${manifest.bin.herald.replace(/^\.\//, "")}`;

/** Every HERALD_* variable the gateway reads. */
export const GATEWAY_ENV = new Set<string>(Object.values(GATEWAY_OPTIONS).map((option) => option.env));

/** The drain window a recipe sets, in ms; the gateway's default when it sets none. */
export function drainWindowMs(env: ReadonlyMap<string, string>): number {
  return Number(env.get(GATEWAY_OPTIONS.drainWindow.env) ?? GATEWAY_OPTIONS.drainWindow.default);
}

/** The gateway's default ping interval, which idle timeouts in front of it must exceed. */
export const HEARTBEAT_INTERVAL_MS = Number(GATEWAY_OPTIONS.heartbeatInterval.default);

/** The configuration a gateway starts with from a recipe's HERALD_* variables; throws on a bad one. */
export function gatewayConfigFrom(env: ReadonlyMap<string, string>): GatewayConfig {
  return loadGatewayConfig({ flags: {}, env: Object.fromEntries(env) });
}
