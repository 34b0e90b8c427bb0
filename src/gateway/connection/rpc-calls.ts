import type { RpcFrame } from "../../protocol/index.js";
import type { InFlightPerAddress } from "../backend/in-flight-per-address.js";
import type { RpcCaller, RpcRelay } from "../backend/rpc-relay.js";
import type { OutboundFrame } from "../delivery/outbound-frame.js";

/** The connection an RPC answer goes back to. */
export interface RpcOutlet {
  readonly id: string;
  readonly user: string | undefined;
  /** The client's address, whose share of calls waiting for the backend a call takes. */
  readonly remoteAddress: string;
  send(frame: OutboundFrame): void;
  internalError(err: unknown, during: string): void;
}

/**
 * One connection's calls waiting for an answer, by id: at most `limit` at once, and no id twice; and
 * each holds a slot of its client address's share until the backend answers or its timeout passes.
 * The connection makes one on its first `rpc` frame. A call outlives its connection only until
 * then, still holding its address's slot; its answer goes nowhere (`send` on a closed session).
 */
export class RpcCalls {
  private readonly waiting = new Set<number>();

  constructor(
    private readonly relay: Pick<RpcRelay, "answer" | "refusal">,
    private readonly limit: number,
    private readonly perAddress: Pick<InFlightPerAddress, "limit" | "take" | "release">,
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
    const address = outlet.remoteAddress;
    if (!this.perAddress.take(address, "rpc"))
      return outlet.send(
        this.relay.refusal(
          id,
          "TOO_MANY_FROM_ADDRESS",
          `${this.perAddress.limit} calls and subscribes from this address are already waiting for an answer`,
        ),
      );
    this.waiting.add(id);
    const caller: RpcCaller = { user: outlet.user, connection: outlet.id };
    this.relay
      .answer(caller, frame)
      .finally(() => this.perAddress.release(address))
      .then((answer) => {
        this.waiting.delete(id);
        outlet.send(answer);
      })
      .catch((err: unknown) => outlet.internalError(err, "answering an rpc"));
  }
}
