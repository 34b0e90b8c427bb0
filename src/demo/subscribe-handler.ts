import { grant, refuse, type SubscribeHandler } from "../backend/index.js";
import { mayJoin } from "./demo-rooms.js";

/**
 * Answers the gateway's `<prefix>.subscribe` requests: a page may join a room (`channel.<room>`)
 * its user is a member of; anything else is refused, which the client does not retry.
 */
export function demoSubscribeHandler(): SubscribeHandler {
  return (channel, { user }) => {
    const room = channel.slice("channel.".length);
    return mayJoin(user, room) ? grant() : refuse("not_a_member", `${user} is not a member of ${room}`);
  };
}
