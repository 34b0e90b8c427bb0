import * as v from "valibot";
import { formatIssues } from "../../src/protocol/index.js";
import type { ManagedProcess } from "./processes.js";

/**
 * Request/reply over Node's IPC channel between the runner and its helper processes (load
 * generators, publisher, auth backend, Socket.IO server). Both directions are validated: a helper
 * checks each command against its schema, the runner checks each reply.
 */
const Envelope = v.union([
  v.object({ kind: v.literal("ready"), detail: v.optional(v.record(v.string(), v.unknown())) }),
  v.object({ kind: v.literal("reply"), id: v.number(), result: v.unknown() }),
  v.object({ kind: v.literal("failure"), id: v.number(), message: v.string() }),
]);

const Request = v.object({ kind: v.literal("request"), id: v.number(), command: v.unknown() });

export class IpcClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }
  >();
  private readonly readyWaiters: ((detail: Record<string, unknown>) => void)[] = [];
  private readyDetail: Record<string, unknown> | undefined;

  constructor(private readonly proc: ManagedProcess) {
    proc.child.on("message", (raw: unknown) => {
      const parsed = v.safeParse(Envelope, raw);
      if (!parsed.success) {
        process.stderr.write(`bench: bad IPC message from ${proc.name}: ${formatIssues(parsed.issues)}\n`);
        return;
      }
      const message = parsed.output;
      if (message.kind === "ready") {
        this.readyDetail = message.detail ?? {};
        for (const waiter of this.readyWaiters.splice(0)) waiter(this.readyDetail);
        return;
      }
      const entry = this.pending.get(message.id);
      if (!entry) return;
      this.pending.delete(message.id);
      clearTimeout(entry.timer);
      if (message.kind === "reply") entry.resolve(message.result);
      else entry.reject(new Error(`${proc.name}: ${message.message}`));
    });
    void proc.exited.then(() => {
      for (const [id, entry] of this.pending) {
        clearTimeout(entry.timer);
        entry.reject(new Error(`${proc.name} exited during request ${id}:\n${proc.outputTail.trim()}`));
      }
      this.pending.clear();
    });
  }

  /** Waits for the helper's `ready` announcement (it has connected to what it needs). */
  ready(timeoutMs: number): Promise<Record<string, unknown>> {
    if (this.readyDetail) return Promise.resolve(this.readyDetail);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`${this.proc.name} not ready within ${timeoutMs} ms:\n${this.proc.outputTail}`)),
        timeoutMs,
      );
      void this.proc.exited.then(() =>
        reject(new Error(`${this.proc.name} exited before ready:\n${this.proc.outputTail.trim()}`)),
      );
      this.readyWaiters.push((detail) => {
        clearTimeout(timer);
        resolve(detail);
      });
    });
  }

  async request<S extends v.GenericSchema>(
    command: unknown,
    schema: S,
    timeoutMs: number,
  ): Promise<v.InferOutput<S>> {
    if (!this.proc.running) throw new Error(`${this.proc.name} is not running`);
    const id = this.nextId++;
    const result = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.proc.name} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.proc.child.send({ kind: "request", id, command });
    });
    const parsed = v.safeParse(schema, result);
    if (!parsed.success) throw new Error(`${this.proc.name}: bad reply: ${formatIssues(parsed.issues)}`);
    return parsed.output;
  }
}

/** Helper side: announce readiness to the runner. */
export function announceReady(detail?: Record<string, unknown>): void {
  process.send?.({ kind: "ready", detail });
}

/** Helper side: answer the runner's commands; exits when the runner goes away. */
export function serveCommands<S extends v.GenericSchema>(
  schema: S,
  handle: (command: v.InferOutput<S>) => Promise<unknown>,
): void {
  process.on("disconnect", () => process.exit(0));
  process.on("message", (raw: unknown) => {
    const request = v.safeParse(Request, raw);
    if (!request.success) return;
    const { id } = request.output;
    const command = v.safeParse(schema, request.output.command);
    if (!command.success) {
      process.send?.({ kind: "failure", id, message: `bad command: ${formatIssues(command.issues)}` });
      return;
    }
    handle(command.output).then(
      (result) => process.send?.({ kind: "reply", id, result }),
      (err: unknown) =>
        process.send?.({ kind: "failure", id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
}

/** Helper side: processes without commands still exit when the runner goes away. */
export function exitWithRunner(): void {
  process.on("disconnect", () => process.exit(0));
}
