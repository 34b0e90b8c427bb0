import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describeBackendExample } from "./backend-example.js";

/**
 * examples/go: built here with Debian's Go 1.19 and nats.go 1.22, offline (GOPATH mode against
 * /usr/share/gocode), then run as the PHP example is.
 */
const root = fileURLToPath(new URL("../../", import.meta.url));
const source = join(root, "examples/go");
/** Kept between runs (npm ci clears it): a rebuild from this cache takes about a second. */
const cache = join(root, "node_modules/.cache/herald-go-build");
let bin = "";

async function build(program: string): Promise<void> {
  await promisify(execFile)("go", ["build", "-o", join(bin, program), `./${program}`], {
    cwd: source,
    env: { ...process.env, GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOFLAGS: "", GOCACHE: cache },
    timeout: 150_000,
  });
}

describeBackendExample("Go", {
  prepare: async () => {
    bin = await mkdtemp(join(tmpdir(), "herald-go-example-"));
    await mkdir(cache, { recursive: true });
    await Promise.all(["auth-responder", "rpc-responder", "publish", "notify", "inbox"].map(build));
  },
  cleanup: () => rm(bin, { recursive: true, force: true }),
  responder: () => ({ command: join(bin, "auth-responder"), args: [] }),
  rpcResponder: () => ({ command: join(bin, "rpc-responder"), args: [] }),
  publish: (user, message) => ({ command: join(bin, "publish"), args: [user, message] }),
  notify: (args) => ({ command: join(bin, "notify"), args: [...args] }),
  inbox: (args) => ({ command: join(bin, "inbox"), args: [...args] }),
});
