/**
 * The safe alphabet as a plain pattern, without valibot: the browser client checks names with it
 * and must not pull a schema library into its bundle. `names.ts` builds the schema on it.
 */
export const SAFE_NAME_PATTERN = /^[A-Za-z0-9_\-:@=+]{1,128}$/;
export const SAFE_NAME_DESCRIPTION = "1 to 128 characters from A-Z a-z 0-9 _ - : @ = +";

export function isSafeName(name: unknown): name is string {
  return typeof name === "string" && SAFE_NAME_PATTERN.test(name);
}
