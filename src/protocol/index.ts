export * from "./auth.js";
export * from "./client-frames.js";
export * from "./close-codes.js";
export * from "./error-codes.js";
export { formatIssues } from "./format-issues.js";
export * from "./names.js";
export * from "./server-frames.js";
export * from "./subjects.js";
