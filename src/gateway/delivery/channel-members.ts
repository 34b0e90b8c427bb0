/**
 * The members of one channel. Most channels have one member (a user's own channel, with one tab
 * open), so a single member is held as itself and a Set is made only for a second: a Set costs
 * about 200 bytes, per connection here. Every function takes and returns the representation.
 */
export type Members<M extends object> = M | Set<M> | undefined;

function isSet<M extends object>(members: Members<M>): members is Set<M> {
  return members instanceof Set;
}

export function memberCount<M extends object>(members: Members<M>): number {
  if (members === undefined) return 0;
  return isSet(members) ? members.size : 1;
}

export function hasMember<M extends object>(members: Members<M>, member: M): boolean {
  return isSet(members) ? members.has(member) : members === member;
}

/** The members with `member` added (the same Set when there already was one). */
export function addMember<M extends object>(members: Members<M>, member: M): Members<M> {
  if (members === undefined || members === member) return member;
  if (isSet(members)) return members.add(member);
  return new Set([members, member]);
}

/** The members without `member`: back to a single member when one remains. */
export function removeMember<M extends object>(members: Members<M>, member: M): Members<M> {
  if (!isSet(members)) return members === member ? undefined : members;
  members.delete(member);
  if (members.size !== 1) return members.size === 0 ? undefined : members;
  const [last] = members;
  return last;
}

/** A copy, for calls that may change the members while they run. */
export function memberList<M extends object>(members: Members<M>): M[] {
  if (members === undefined) return [];
  return isSet(members) ? [...members] : [members];
}

/** Calls `each` for every member; no closure or iterator for a single one. */
export function forEachMember<M extends object, A, B, C>(
  members: Members<M>,
  each: (member: M, a: A, b: B, c: C) => void,
  a: A,
  b: B,
  c: C,
): void {
  if (members === undefined) return;
  if (!isSet(members)) return each(members, a, b, c);
  for (const member of members) each(member, a, b, c);
}
