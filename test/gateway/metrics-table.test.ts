import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { gatewayMetricRows, metricsMarkdown } from "../../src/gateway/metrics-table.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The table between a document's generated-table markers. */
function generatedTable(file: string, marker: string): string {
  const text = readFileSync(join(ROOT, file), "utf8");
  const start = text.indexOf(`<!-- ${marker}:start`);
  const end = text.indexOf(`<!-- ${marker}:end -->`);
  expect(start, `${file} has the ${marker} markers`).toBeGreaterThanOrEqual(0);
  return text.slice(text.indexOf("\n", start) + 1, end);
}

/** Every `name: "herald_…"` in the sources, with the file that defines it. */
function metricNamesInSources(): { name: string; file: string }[] {
  const src = join(ROOT, "src");
  return readdirSync(src, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .flatMap((file) =>
      [...readFileSync(join(src, file), "utf8").matchAll(/\bname:\s*"(herald_[a-z0-9_]+)"/g)].map(
        (match) => ({
          name: match[1] ?? "",
          file: `src/${file}`,
        }),
      ),
    );
}

describe("the metrics table in docs/operations.md", () => {
  it("is exactly what the metric definitions generate (regenerate with `npm run docs:tables`)", () => {
    expect(generatedTable("docs/operations.md", "metrics")).toBe(metricsMarkdown());
  });

  it("has every metric defined in the sources, each once", () => {
    const listed = gatewayMetricRows().map((row) => row.name);
    expect(new Set(listed).size).toBe(listed.length);
    const defined = metricNamesInSources();
    expect(defined.length).toBeGreaterThan(20);
    // A metric missing here is defined where gatewayMetricRows() does not look: add its class there.
    for (const { name, file } of defined) expect(listed, `${name} (${file})`).toContain(name);
  });
});
