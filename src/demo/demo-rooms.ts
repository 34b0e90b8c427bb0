import * as v from "valibot";
import { DEMO_USERS, type DemoUser } from "./demo-users.js";

/**
 * The demo's rooms: shared channels `channel.<room>` a signed-in page can join and leave (the lobby,
 * which every user gets at auth, is not one of them).
 */
export const DEMO_ROOMS = ["chat", "staff"] as const;

export const DemoRoom = v.picklist(DEMO_ROOMS, `must be one of ${DEMO_ROOMS.join(", ")}`);
export type DemoRoom = v.InferOutput<typeof DemoRoom>;

/** Who may join each room: what the demo backend answers on `<prefix>.subscribe`. */
const MEMBERS: Readonly<Record<DemoRoom, readonly DemoUser[]>> = {
  chat: DEMO_USERS,
  staff: ["alice"],
};

export function mayJoin(user: string, room: string): boolean {
  return Object.hasOwn(MEMBERS, room) && (MEMBERS[room as DemoRoom] as readonly string[]).includes(user);
}
