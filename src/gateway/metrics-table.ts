import { Registry } from "prom-client";
import * as v from "valibot";
import { InboxMetrics } from "./inbox/inbox-metrics.js";
import { GatewayMetrics } from "./metrics.js";
import { TrackingMetrics } from "./tracking/registry/tracking-metrics.js";

/** One metric as docs/operations.md lists it. */
export interface MetricRow {
  readonly name: string;
  readonly type: string;
  readonly labels: readonly string[];
  /** When a gateway exposes it: always, or only with the feature that defines it. */
  readonly exposed: string;
  readonly help: string;
}

/** What prom-client keeps of a metric's definition (its objects carry more than its types say). */
const Definition = v.object({
  name: v.string(),
  help: v.string(),
  type: v.string(),
  labelNames: v.optional(v.array(v.string()), []),
});

/**
 * Every metric a gateway defines, Node's process metrics aside, read back from the definitions
 * themselves: the gateway's own, then those it registers with events or presence on, and with the inbox.
 */
export function gatewayMetricRows(): MetricRow[] {
  const always = new GatewayMetrics(false).registry;
  const tracking = new Registry();
  void new TrackingMetrics(tracking);
  const inbox = new Registry();
  void new InboxMetrics(inbox);
  const rows = (registry: Registry, exposed: string): MetricRow[] =>
    registry.getMetricsAsArray().map((metric) => {
      const definition = v.parse(Definition, metric);
      return {
        name: definition.name,
        type: definition.type,
        labels: definition.labelNames,
        exposed,
        help: definition.help,
      };
    });
  return [
    ...rows(always, "always"),
    ...rows(tracking, "with events or presence on"),
    ...rows(inbox, "with the inbox on"),
  ];
}

/** docs/operations.md's metrics table. */
export function metricsMarkdown(): string {
  const cell = (text: string) => text.replace(/\|/g, "\\|");
  const lines = [
    "| Metric | Type | Labels | Exposed | Description |",
    "| --- | --- | --- | --- | --- |",
    ...gatewayMetricRows().map(
      (row) =>
        `| \`${row.name}\` | ${row.type} | ${row.labels.map((label) => `\`${label}\``).join(", ")} | ${row.exposed} | ${cell(row.help)} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}
