import { randomBytes } from "node:crypto";

export interface TokenSession {
  readonly user: string;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

export interface IssuedToken extends TokenSession {
  readonly token: string;
}

/** Enough for a demo; the oldest tokens go first when it is full. */
const MAX_TOKENS = 10_000;

/**
 * Opaque tokens: 32 random bytes that mean nothing outside this process. The user id never appears
 * in the token, and a token stops working at its expiry or when the demo app restarts.
 */
export class TokenStore {
  readonly #sessions = new Map<string, TokenSession>();

  constructor(
    readonly ttlMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  issue(user: string): IssuedToken {
    this.prune();
    const token = randomBytes(32).toString("base64url");
    const session = { user, expiresAt: this.now() + this.ttlMs };
    this.#sessions.set(token, session);
    return { token, ...session };
  }

  /** The session a token stands for, or undefined when it is unknown or expired. */
  verify(token: string): TokenSession | undefined {
    const session = this.#sessions.get(token);
    if (!session) return undefined;
    if (session.expiresAt <= this.now()) {
      this.#sessions.delete(token);
      return undefined;
    }
    return session;
  }

  /** Forgets every token of `user` (sign out everywhere); returns how many there were. */
  revoke(user: string): number {
    let revoked = 0;
    for (const [token, session] of this.#sessions) {
      if (session.user !== user) continue;
      this.#sessions.delete(token);
      revoked++;
    }
    return revoked;
  }

  get size(): number {
    return this.#sessions.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [token, session] of this.#sessions) {
      if (session.expiresAt <= now) this.#sessions.delete(token);
    }
    // Map order is insertion order: the first keys are the oldest tokens.
    for (const token of this.#sessions.keys()) {
      if (this.#sessions.size < MAX_TOKENS) break;
      this.#sessions.delete(token);
    }
  }
}
