import { defineConfig } from "tsup";

// No `clean`: the four builds run at once and would delete each other's files; `npm run build` empties
// dist/ before it starts.

export default defineConfig([
  {
    // The Node side: SDKs and the CLI, sharing chunks.
    entry: {
      "protocol/index": "src/protocol/index.ts",
      "gateway/index": "src/gateway/index.ts",
      "backend/index": "src/backend/index.ts",
      "cli/main": "src/cli/main.ts",
    },
    format: ["esm"],
    target: "node20",
    dts: {
      entry: {
        "protocol/index": "src/protocol/index.ts",
        "gateway/index": "src/gateway/index.ts",
        "backend/index": "src/backend/index.ts",
      },
    },
    sourcemap: true,
    splitting: true,
  },
  {
    // The browser SDK as one ES module of its own: a front-end bundler that imports `herald/client`
    // reads this file and nothing else, so no chunk shared with the Node side can pull Node in.
    entry: { "client/index": "src/client/index.ts" },
    format: ["esm"],
    platform: "browser",
    target: "es2020",
    dts: true,
    sourcemap: true,
    splitting: false,
  },
  {
    // The inbox, an import of its own (`herald/client/inbox`): pages without a bell carry none of it.
    entry: { "client/inbox": "src/client/inbox.ts" },
    format: ["esm"],
    platform: "browser",
    target: "es2020",
    dts: true,
    sourcemap: true,
    splitting: false,
  },
  {
    // The inbox as a script after the client's: `HeraldInbox.inbox(client)`.
    entry: { "client/herald-inbox.min": "src/client/inbox.ts" },
    format: ["iife"],
    globalName: "HeraldInbox",
    platform: "browser",
    target: "es2020",
    minify: true,
    outExtension: () => ({ js: ".js" }),
  },
  {
    // The browser SDK as one script for a <script> tag: `Herald.connect(...)`, over WebSocket.
    entry: { "client/herald-client.min": "src/client/script.ts" },
    format: ["iife"],
    globalName: "Herald",
    platform: "browser",
    target: "es2020",
    minify: true,
    outExtension: () => ({ js: ".js" }),
  },
  {
    // Loaded after it, HTTP-streaming and SSE for networks that block WebSockets. No global of its
    // own: it hands the fallbacks to `Herald`.
    entry: { "client/herald-client-fallbacks.min": "src/client/script-fallbacks.ts" },
    format: ["iife"],
    platform: "browser",
    target: "es2020",
    minify: true,
    outExtension: () => ({ js: ".js" }),
  },
]);
