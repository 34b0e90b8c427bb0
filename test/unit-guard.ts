// Set up before every unit test file: a unit test starts no process and opens no socket, and one
// that tries fails at once, saying where it belongs, instead of slowing `npm run test:unit` down.
import childProcess from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";

function refuse(what: string): never {
  throw new Error(`a unit test ${what}: list its file as an integration test in vitest.config.ts`);
}

const starters = ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"] as const;
for (const name of starters) {
  Object.assign(childProcess, { [name]: () => refuse(`started a process (child_process.${name})`) });
}
// `import { spawn } from "node:child_process"` reads the patched functions from here on.
syncBuiltinESMExports();
net.Server.prototype.listen = () => refuse("listened on a socket");
net.Socket.prototype.connect = () => refuse("opened a socket");
