#!/usr/bin/env node
// Prints the size of the browser bundle and fails the build when it outgrows its budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUNDLE = new URL("../dist/client/herald-client.min.js", import.meta.url);
const GZIP_BUDGET = 6144;

let code;
try {
  code = readFileSync(BUNDLE);
} catch (err) {
  console.error(`client bundle missing (${err.message}); run tsup first`);
  process.exit(1);
}
const gzipped = gzipSync(code, { level: 9 }).length;
console.log(`client bundle: ${code.length} bytes minified, ${gzipped} bytes gzipped`);
if (gzipped > GZIP_BUDGET) {
  console.error(`client bundle is over its budget of ${GZIP_BUDGET} bytes gzipped`);
  process.exit(1);
}
