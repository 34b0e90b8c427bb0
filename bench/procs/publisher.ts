import { connect } from "@nats-io/transport-node";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";
import * as v from "valibot";
import { HeraldBackend } from "../../src/backend/index.js";
import {
  PublisherCommand,
  type PublishResult,
  SHARED_CHANNEL,
  type StoredResult,
  SUBJECT_PREFIX,
  userId,
} from "../lib/commands.js";
import { announceReady, serveCommands } from "../lib/ipc.js";
import { monotonicNs, payloadPadding, stampObject, stampPayload } from "../lib/payload.js";

/**
 * The application backend publishing notifications, paced every millisecond. For Herald and the
 * nats-server WebSocket peer it is a plain NATS publish to `herald.user.<id>` / `herald.channel.all`.
 * For Socket.IO it is `io.to(room).emit(...)` from a Socket.IO server attached to the same Redis
 * adapter (the way a backend process in a Socket.IO cluster notifies users on other nodes).
 */
const Args = v.union([
  v.tuple([v.literal("nats"), v.pipe(v.string(), v.url())]),
  v.tuple([v.literal("socketio"), v.pipe(v.string(), v.url())]),
]);
const args = v.parse(Args, process.argv.slice(2));

interface Sender {
  send(target: "unicast" | "broadcast", user: number, run: number, index: number, padding: string): void;
  /** Resolves once everything sent so far has left this process. */
  flush(): Promise<void>;
}

async function openSender(): Promise<Sender> {
  if (args[0] === "nats") {
    const nc = await connect({ servers: args[1], name: "bench-publisher" });
    process.on("SIGTERM", () => void nc.close().finally(() => process.exit(0)));
    return {
      send(target, user, run, index, padding) {
        const subject =
          target === "unicast"
            ? `${SUBJECT_PREFIX}.user.${userId(user)}`
            : `${SUBJECT_PREFIX}.channel.${SHARED_CHANNEL}`;
        nc.publish(subject, stampPayload(run, index, padding));
      },
      flush: () => nc.flush(),
    };
  }
  const pub = createClient({ url: args[1] });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const io = new Server({ adapter: createAdapter(pub, sub) });
  process.on("SIGTERM", () => {
    void io.close();
    process.exit(0);
  });
  return {
    send(target, user, run, index, padding) {
      const room = target === "unicast" ? `user:${userId(user)}` : `channel:${SHARED_CHANNEL}`;
      io.to(room).emit("message", stampObject(run, index, padding));
    },
    // node-redis writes each command as soon as it is issued; a PING round trip orders after them.
    flush: async () => {
      await pub.ping();
    },
  };
}

const sender = await openSender();

/**
 * `reconnect`: the backend publishing with Herald's SDK and a JetStream acknowledgement
 * (`publishStored`), each user's messages numbered 0, 1, 2, ... so the clients can tell lost and
 * duplicated ones. Runs from `storedStart` until `storedStop`, paced every millisecond.
 */
class StoredPublishing {
  private readonly acked: number[];
  private readonly next: number[];
  private failed = 0;
  private readonly failures = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly startedNs = monotonicNs();
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly backend: HeraldBackend,
    private readonly command: Extract<PublisherCommand, { type: "storedStart" }>,
  ) {
    this.acked = new Array<number>(command.users).fill(0);
    this.next = new Array<number>(command.users).fill(0);
    const padding = payloadPadding(command.payloadBytes);
    let sent = 0;
    const tick = () => {
      if (this.stopped) return;
      const elapsedMs = (monotonicNs() - this.startedNs) / 1e6;
      const due = Math.floor((elapsedMs * command.rate) / 1000) + 1;
      for (; sent < due; sent++) this.publish(Math.floor(Math.random() * command.users), padding);
      this.timer = setTimeout(tick, 1);
    };
    tick();
  }

  private publish(user: number, padding: string): void {
    const index = this.next[user] as number;
    this.next[user] = index + 1;
    const payload = `{"r":${this.command.run},"u":${user},"i":${index},"t":${monotonicNs()},"p":"${padding}"}`;
    const done = this.backend
      .publishStored(userId(user), new TextEncoder().encode(payload))
      .then(
        () => {
          // Acknowledged in order per connection, so a user's acknowledged indices are 0 .. n-1.
          this.acked[user] = Math.max(this.acked[user] as number, index + 1);
        },
        (err: unknown) => {
          this.failed++;
          const reason = err instanceof Error ? err.name : "error";
          this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
        },
      )
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  async stop(): Promise<StoredResult> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all([...this.inFlight]);
    return {
      acked: this.acked,
      failed: this.failed,
      failures: Object.fromEntries(this.failures),
      startedNs: this.startedNs,
      endedNs: monotonicNs(),
    };
  }
}

let backend: HeraldBackend | undefined;
let stored: StoredPublishing | undefined;

serveCommands(
  PublisherCommand,
  async (command): Promise<PublishResult | StoredResult | Record<string, never>> => {
    if (command.type === "storedStart") {
      if (args[0] !== "nats") throw new Error("stored publishes need NATS");
      backend ??= await HeraldBackend.connect({
        servers: args[1],
        prefix: SUBJECT_PREFIX,
        name: "bench-stored-publisher",
      });
      if (stored) throw new Error("stored publishing already runs");
      stored = new StoredPublishing(backend, command);
      return {};
    }
    if (command.type === "storedStop") {
      if (!stored) throw new Error("no stored publishing runs");
      const result = await stored.stop();
      stored = undefined;
      return result;
    }
    const padding = payloadPadding(command.payloadBytes);
    const total = Math.round((command.rate * command.durationMs) / 1000);
    const startedNs = monotonicNs();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const elapsedMs = (monotonicNs() - startedNs) / 1e6;
        const due = Math.min(total, Math.floor((elapsedMs * command.rate) / 1000) + 1);
        while (sent < due) {
          const user = Math.floor(Math.random() * command.users);
          sender.send(command.target, user, command.run, sent, padding);
          sent++;
        }
        if (sent >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    await sender.flush();
    return { sent, startedNs, endedNs: monotonicNs() };
  },
);
announceReady();
