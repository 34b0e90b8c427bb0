import { type AuthHandler, accept, refuse } from "../backend/index.js";
import type { TokenStore } from "./token-store.js";

/** The shared channel every demo user receives, with presence (`channel.lobby` on the page). */
export const LOBBY = "lobby";

/**
 * Answers the gateway's `<prefix>.auth` requests: a token this demo issued and that has not expired
 * is accepted as its user until its expiry, in the lobby with presence; anything else is refused,
 * which the client must not retry. A refresh is answered the same way: the gateway itself refuses
 * one that names another user.
 */
export function demoAuthHandler(tokens: TokenStore): AuthHandler {
  return (token) => {
    const session = tokens.verify(token);
    if (!session) return refuse("invalid_token", "unknown or expired token; sign in again");
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
