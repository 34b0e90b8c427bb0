import { Heartbeat } from "./heartbeat.js";
import type { Session } from "./session.js";

/**
 * The gateway's open sessions and their heartbeat slots, kept together: a session is in both or in
 * neither. Heartbeats are spread over the interval (one timer for every socket, never all sockets
 * in one tick).
 */
export class SessionRegistry {
  private readonly sessions = new Set<Session>();
  private readonly heartbeat: Heartbeat<Session>;
  /** Shared by every session, not a closure per upgrade: that would keep each upgrade's request alive. */
  readonly forget = (session: Session): void => {
    this.sessions.delete(session);
    this.heartbeat.remove(session);
  };

  constructor(heartbeatTimeout: number, heartbeatInterval: number) {
    this.heartbeat = new Heartbeat<Session>(heartbeatTimeout, heartbeatInterval);
  }

  get size(): number {
    return this.sessions.size;
  }

  add(session: Session): void {
    this.sessions.add(session);
    this.heartbeat.add(session);
  }

  /** A copy: closing a session while walking it removes it from the registry. */
  all(): Session[] {
    return [...this.sessions];
  }

  /**
   * The sessions of one user: every one whose auth was accepted, joining, replaying or ready (those
   * still authenticating have no user yet: the control listener remembers recent messages for
   * them). A scan, not an index: it serves control messages, which are rare, and an index would
   * cost every connection memory.
   */
  ofUser(user: string): Session[] {
    const found: Session[] = [];
    for (const session of this.sessions) if (session.user === user) found.push(session);
    return found;
  }

  /** No more pings or heartbeat cut-offs (the gateway is stopping). */
  stopHeartbeats(): void {
    this.heartbeat.stop();
  }
}
