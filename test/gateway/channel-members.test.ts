import { describe, expect, it } from "vitest";
import {
  addMember,
  forEachMember,
  hasMember,
  type Members,
  memberCount,
  memberList,
  removeMember,
} from "../../src/gateway/delivery/channel-members.js";
import { seededRandom } from "../client/seeded-random.js";

interface Member {
  readonly id: number;
}

function visited(members: Members<Member>): number[] {
  const seen: number[] = [];
  forEachMember(
    members,
    (m, list: number[], _b: undefined, _c: undefined) => list.push(m.id),
    seen,
    undefined,
    undefined,
  );
  return seen;
}

describe("channel members", () => {
  it("hold one member as itself, more in a Set, and go back to one member", () => {
    const a = { id: 1 };
    const b = { id: 2 };
    let members: Members<Member> = addMember(undefined, a);
    expect(members).toBe(a);
    expect(addMember(members, a)).toBe(a);
    members = addMember(members, b);
    expect(members).toBeInstanceOf(Set);
    expect(memberCount(members)).toBe(2);
    members = removeMember(members, a);
    expect(members).toBe(b);
    expect(removeMember(members, a)).toBe(b);
    expect(removeMember(members, b)).toBeUndefined();
    expect(memberCount(undefined)).toBe(0);
    expect(memberList(undefined)).toEqual([]);
  });

  it("behave as a Set under any sequence of adds and removes", () => {
    const random = seededRandom(7);
    const pool = Array.from({ length: 5 }, (_, id) => ({ id }));
    let members: Members<Member>;
    const model = new Set<Member>();
    for (let step = 0; step < 2000; step++) {
      const member = pool[Math.floor(random() * pool.length)]!;
      if (random() < 0.5) {
        members = addMember(members, member);
        model.add(member);
      } else {
        members = removeMember(members, member);
        model.delete(member);
      }
      expect(memberCount(members)).toBe(model.size);
      for (const m of pool) expect(hasMember(members, m)).toBe(model.has(m));
      expect(
        memberList(members)
          .map((m) => m.id)
          .sort(),
      ).toEqual([...model].map((m) => m.id).sort());
      expect(visited(members).sort()).toEqual([...model].map((m) => m.id).sort());
      if (model.size === 1) expect(members).toBe([...model][0]);
    }
  });
});
