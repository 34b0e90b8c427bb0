// A child process of compression-memory.test.ts: a gateway alone in its process, so that its memory
// is measured without the test's. Started with --expose-gc and a fixed young generation (whose size
// follows the allocation rate, not what is held). Arguments: the NATS URL and the gateway's options
// as JSON. Sends its URL over IPC once listening; answers `"measure"` with its resident memory in
// bytes after two full collections.
import { startTestGateway } from "../../src/testing/index.js";

const [natsUrl, options] = process.argv.slice(2);
if (!natsUrl || !options) throw new Error("usage: measured-gateway.ts <nats url> <options as JSON>");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const gateway = await startTestGateway(natsUrl, JSON.parse(options));
process.on("message", (command) => {
  if (command !== "measure") return;
  gc();
  gc();
  process.send?.({ rss: process.memoryUsage().rss });
});
process.on("disconnect", () => void gateway.close().finally(() => process.exit(0)));
process.send?.({ url: gateway.url });
