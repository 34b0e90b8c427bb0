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
    dts: false,
    sourcemap: true,
    clean: true,
    splitting: true,
  },
]);
