import { existsSync } from "node:fs";
import { configDefaults, defineConfig } from "vitest/config";

/**
 * Tests that start no process and open no socket (test/unit-guard.ts fails them if they do):
 * `npm run test:unit` runs them in seconds. Every other test file is an integration test.
 */
const UNIT = [
  "test/cli/command-line.test.ts",
  "test/client/backoff.test.ts",
  "test/client/recovery.test.ts",
  "test/client/server-frame.test.ts",
  "test/deploy/kubernetes.test.ts",
  "test/docs/snippets.test.ts",
  "test/gateway/channel-members.test.ts",
  "test/gateway/config.test.ts",
  "test/gateway/message-frame.test.ts",
  "test/gateway/metrics-table.test.ts",
  "test/gateway/session-unit.test.ts",
  "test/options/option-loader.test.ts",
  "test/presence/event-churn-unit.test.ts",
  "test/presence/presence-index.test.ts",
  "test/protocol/protocol.test.ts",
];
// A unit test moved or renamed without this list would silently become no test at all.
const missing = UNIT.filter((file) => !existsSync(new URL(file, import.meta.url)));
if (missing.length)
  throw new Error(`vitest.config.ts lists unit tests that do not exist: ${missing.join(", ")}`);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two cores: more files at once only makes every timing-sensitive fault test slower.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: "unit", include: UNIT, setupFiles: ["test/unit-guard.ts"] },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts", "src/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...UNIT],
        },
      },
    ],
  },
});
