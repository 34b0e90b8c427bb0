import { defineConfig } from "tsup";

export default defineConfig([
  {
    entry: {
      "protocol/index": "src/protocol/index.ts",
      "gateway/index": "src/gateway/index.ts",
      "backend/index": "src/backend/index.ts",
      "client/index": "src/client/index.ts",
      "cli/main": "src/cli/main.ts",
    },
    format: ["esm"],
    target: "node20",
    dts: {
      entry: {
        "protocol/index": "src/protocol/index.ts",
        "gateway/index": "src/gateway/index.ts",
        "backend/index": "src/backend/index.ts",
        "client/index": "src/client/index.ts",
      },
    },
    sourcemap: true,
    clean: true,
    splitting: true,
  },
  {
    // The browser SDK as one script for a <script> tag: `Herald.connect(...)`.
    entry: { "client/herald-client.min": "src/client/index.ts" },
    format: ["iife"],
    globalName: "Herald",
    platform: "browser",
    target: "es2020",
    minify: true,
    outExtension: () => ({ js: ".js" }),
  },
]);
