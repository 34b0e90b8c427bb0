import { type AuthHandler, accept, refuse } from "../backend/index.js";
import type { TokenStore } from "./token-store.js";

/** The shared channel every demo user receives, with presence (`channel.lobby` on the page). */
export const LOBBY = "lobby";

/**
 * Answers the gateway's `<prefix>.auth` requests: a token this demo issued and that has not expired
 * is accepted as its user until its expiry, in the lobby with presence; anything else is refused,
 * which the client must not retry.
 */
export function demoAuthHandler(tokens: TokenStore): AuthHandler {
  return (token, context) => {
    const session = tokens.verify(token);
    if (!session) return refuse("invalid_token", "unknown or expired token; sign in again");
    // A refresh must keep the connection's user: a token of someone else is not a refresh.
    if (context.kind === "refresh" && context.user !== undefined && context.user !== session.user) {
      return refuse("user_mismatch", "the new token belongs to another user");
    }
    // Everyone is in the lobby, with presence: the page shows who else is there.
    return accept({
      user: session.user,
      expiresAt: session.expiresAt,
      channels: [LOBBY],
      presence: [LOBBY],
      info: { name: session.user },
    });
  };
}
