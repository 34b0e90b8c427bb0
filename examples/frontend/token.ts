/**
 * Your backend's endpoint that gives the signed-in user a Herald token (see the backend guide). The
 * client calls it before every connect, reconnect and token refresh, so it returns a fresh token.
 */
export async function fetchHeraldToken(): Promise<string> {
  const res = await fetch("/api/herald-token", { credentials: "same-origin" });
  if (!res.ok) throw new Error(`the token endpoint answered ${res.status}`);
  return res.text();
}
