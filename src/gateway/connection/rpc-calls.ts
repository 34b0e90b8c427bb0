import type { RpcFrame } from "../../protocol/index.js";
import type { RpcCaller, RpcRelay } from "../backend/rpc-relay.js";
import type { OutboundFrame } from "../delivery/outbound-frame.js";

/** The connection an RPC answer goes back to. */
export interface RpcOutlet {
  readonly id: string;
  readonly user: string | undefined;
  send(frame: OutboundFrame): void;
  internalError(err: unknown, during: string): void;
}

/**
 * One connection's calls waiting for an answer, by id: at most `limit` at once, and no id twice. The
 * connection makes one on its first `rpc` frame. A call outlives its connection only until the
 * backend answers or its timeout passes; its answer then goes nowhere (`send` on a closed session).
 */
export class RpcCalls {
  private readonly waiting = new Set<number>();

  constructor(
    private readonly relay: Pick<RpcRelay, "answer" | "refusal">,
    private readonly limit: number,
  ) {}

  get inFlight(): number {
    return this.waiting.size;
  }

  call(outlet: RpcOutlet, frame: RpcFrame): void {
    const { id } = frame;
    if (outlet.user === undefined) return; // only after `ready`, which sets it
    if (this.waiting.has(id))
      return outlet.send(this.relay.refusal(id, "DUPLICATE_ID", `a call with id ${id} is already waiting`));
    if (this.waiting.size >= this.limit)
      return outlet.send(
        this.relay.refusal(id, "TOO_MANY_IN_FLIGHT", `${this.limit} calls are already waiting for an answer`),
      );
    this.waiting.add(id);
    const caller: RpcCaller = { user: outlet.user, connection: outlet.id };
    this.relay
      .answer(caller, frame)
      .then((answer) => {
        this.waiting.delete(id);
        outlet.send(answer);
      })
      .catch((err: unknown) => outlet.internalError(err, "answering an rpc"));
  }
}
