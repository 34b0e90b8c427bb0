import { HeraldClientError } from "./errors.js";

/** A fresh token from the application, or the error to report when there is none. */
export async function fetchToken(
  getToken: () => string | Promise<string>,
): Promise<string | HeraldClientError> {
  let token: unknown;
  try {
    token = await getToken();
  } catch (err) {
    return new HeraldClientError("TOKEN_UNAVAILABLE", `getToken failed: ${err}`, { cause: err });
  }
  return typeof token === "string" && token !== ""
    ? token
    : new HeraldClientError("TOKEN_UNAVAILABLE", "getToken returned no token (expected a non-empty string)");
}
