import * as v from "valibot";
import { formatIssues, ServerFrame } from "../protocol/index.js";

export interface ReceivedFrame {
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/**
 * What the tests' raw clients share, whatever carries the frames (a WebSocket, an HTTP stream):
 * every frame recorded and checked against the protocol's server-frame schema (one outside it fails
 * the test at the next wait), and waits for the next frame, a number of messages or the close, with
 * a timeout instead of a hang.
 */
export abstract class FrameRecorder {
  readonly frames: ReceivedFrame[] = [];
  /** Frames the gateway sent that break the protocol (should stay empty). */
  readonly violations: string[] = [];
  private readonly waiters: Array<() => void> = [];
  private answeringPings = false;
  private closeInfo: CloseInfo | undefined;
  private cursor = 0;

  /** @param carrier what the frames come on, for error messages ("socket", "stream"). */
  protected constructor(private readonly carrier: string) {}

  /** Sends a heartbeat `pong`. */
  protected abstract pong(): void;

  get closed(): CloseInfo | undefined {
    return this.closeInfo;
  }

  /** Answers every heartbeat ping from now on, as the client SDK does. */
  answerPings(): this {
    this.answeringPings = true;
    return this;
  }

  /** The next frame not yet taken (optionally of a type, skipping pings), or throws after `timeoutMs`. */
  async next(type?: string, timeoutMs = 5000): Promise<ReceivedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.checkProtocol();
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++]!;
        if (type === undefined ? frame.type !== "ping" : frame.type === type) return frame;
      }
      if (this.closeInfo)
        throw new Error(
          `${this.carrier} closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${type ?? "a frame"}`,
        );
      if (!(await this.wait(deadline))) throw new Error(`no ${type ?? "frame"} within ${timeoutMs} ms`);
    }
  }

  /** All `message` frames received so far. */
  messages(): ReceivedFrame[] {
    return this.frames.filter((f) => f.type === "message");
  }

  /** Waits until `count` message frames have arrived in total. */
  async waitForMessages(count: number, timeoutMs = 5000): Promise<ReceivedFrame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages().length < count) {
      if (!(await this.wait(deadline)))
        throw new Error(`only ${this.messages().length} of ${count} messages within ${timeoutMs} ms`);
    }
    this.checkProtocol();
    return this.messages();
  }

  async waitClose(timeoutMs = 5000): Promise<CloseInfo> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closeInfo) {
      if (!(await this.wait(deadline))) throw new Error(`${this.carrier} not closed within ${timeoutMs} ms`);
    }
    this.checkProtocol();
    return this.closeInfo;
  }

  /** Records one frame as it came (`text`, for the report of a violation). */
  protected received(frame: ReceivedFrame, text: string): void {
    const checked = v.safeParse(ServerFrame, frame);
    if (!checked.success) this.violations.push(`${text.slice(0, 200)}: ${formatIssues(checked.issues)}`);
    this.frames.push(frame);
    if (this.answeringPings && frame.type === "ping") this.pong();
    this.wake();
  }

  /** Records the close; the first one counts. */
  protected closedWith(info: CloseInfo): void {
    this.closeInfo ??= info;
    this.wake();
  }

  protected wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private checkProtocol(): void {
    if (this.violations.length > 0)
      throw new Error(`the gateway sent a frame outside the protocol: ${this.violations[0]}`);
  }

  private wait(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, left);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }
}

/** A frame's text as JSON, or a `<not json>` frame holding the text. */
export function parseFrame(text: string): ReceivedFrame {
  try {
    return JSON.parse(text) as ReceivedFrame;
  } catch {
    return { type: "<not json>", text };
  }
}
