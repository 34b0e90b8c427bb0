import { fileURLToPath } from "node:url";
import { describeBackendExample } from "./backend-example.js";

/**
 * examples/php: the auth and rpc responders and the publisher on php-cli alone. Run with `-n` (no php.ini):
 * only what is built into the PHP binary, so no optional extension (mbstring, sockets…) can creep in;
 * the README's plain `php publish.php 1 hello!` has at least that.
 */
const dir = fileURLToPath(new URL("../../examples/php/", import.meta.url));

describeBackendExample("PHP", {
  responder: () => ({ command: "php", args: ["-n", "auth-responder.php"], cwd: dir }),
  rpcResponder: () => ({ command: "php", args: ["-n", "rpc-responder.php"], cwd: dir }),
  publish: (user, message) => ({ command: "php", args: ["-n", "publish.php", user, message], cwd: dir }),
  notify: (args) => ({ command: "php", args: ["-n", "notify.php", ...args], cwd: dir }),
  inbox: (args) => ({ command: "php", args: ["-n", "inbox.php", ...args], cwd: dir }),
});
