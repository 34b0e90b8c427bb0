import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  drainWindowMs,
  GATEWAY_ENV,
  gatewayConfigFrom,
  INSTALLED_SCRIPT,
  manifest,
  readRecipe,
} from "./recipe-files.js";

/** The fields of the Deployment and the Service this recipe depends on; the rest is Kubernetes' own. */
const Labels = v.record(v.string(), v.string());
const HttpProbe = v.object({ httpGet: v.object({ path: v.string(), port: v.string() }) });
const Deployment = v.object({
  kind: v.literal("Deployment"),
  spec: v.object({
    selector: v.object({ matchLabels: Labels }),
    strategy: v.object({ rollingUpdate: v.object({ maxUnavailable: v.number() }) }),
    template: v.object({
      metadata: v.object({ labels: Labels }),
      spec: v.object({
        terminationGracePeriodSeconds: v.number(),
        containers: v.tuple([
          v.object({
            image: v.string(),
            command: v.array(v.string()),
            env: v.array(v.object({ name: v.string(), value: v.string() })),
            ports: v.array(v.object({ name: v.string(), containerPort: v.number() })),
            readinessProbe: HttpProbe,
            livenessProbe: HttpProbe,
            lifecycle: v.object({ preStop: v.object({ exec: v.object({ command: v.array(v.string()) }) }) }),
          }),
        ]),
      }),
    }),
  }),
});
const Service = v.object({
  kind: v.literal("Service"),
  spec: v.object({ selector: Labels, ports: v.array(v.object({ targetPort: v.string() })) }),
});

const documents = parseAllDocuments(readRecipe("kubernetes/herald-gateway.yaml"));
const parsed = documents.map((document) => {
  if (document.errors.length > 0) throw new Error(`not valid YAML: ${document.errors.join("; ")}`);
  return document.toJS() as unknown;
});
const deployment = v.parse(
  Deployment,
  parsed.find((doc) => v.is(v.object({ kind: v.literal("Deployment") }), doc)),
);
const service = v.parse(
  Service,
  parsed.find((doc) => v.is(v.object({ kind: v.literal("Service") }), doc)),
);
const pod = deployment.spec.template.spec;
const [container] = pod.containers;
const env = new Map(container.env.map(({ name, value }) => [name, value]));

describe("the Kubernetes sketch in deploy/", () => {
  it("is two YAML documents: a Deployment and a Service for its pods", () => {
    expect(documents).toHaveLength(2);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    const portNames = container.ports.map((port) => port.name);
    for (const port of service.spec.ports) expect(portNames).toContain(port.targetPort);
  });

  it("sends clients only to ready gateways: readiness on /readyz, liveness on /healthz", () => {
    const portNames = container.ports.map((port) => port.name);
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(portNames).toContain(container.readinessProbe.httpGet.port);
    expect(portNames).toContain(container.livenessProbe.httpGet.port);
    expect(container.ports.map((port) => port.containerPort)).toContain(Number(env.get("HERALD_PORT")));
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it("gives the preStop pause and the drain window time to finish before SIGKILL", () => {
    const [sleep, seconds, ...rest] = container.lifecycle.preStop.exec.command;
    expect([sleep, ...rest]).toEqual(["sleep"]);
    const drainSeconds = drainWindowMs(env) / 1000;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(Number(seconds) + drainSeconds + 5);
  });

  it("runs the installed package's command with node directly, with options the gateway knows", () => {
    expect(container.command).toEqual(["node", `/opt/herald/${INSTALLED_SCRIPT}`, "gateway"]);
    for (const name of env.keys()) expect(GATEWAY_ENV).toContain(name);
    const config = gatewayConfigFrom(env);
    expect(container.ports).toEqual(
      expect.arrayContaining([
        { name: "http", containerPort: config.port },
        { name: "metrics", containerPort: config.metricsPort },
      ]),
    );
  });

  it("runs the image deploy/Dockerfile builds, of this version", () => {
    const dockerfile = readRecipe("Dockerfile");
    expect(container.image.endsWith(`:${manifest.version}`)).toBe(true);
    expect(dockerfile).toContain(` herald@${manifest.version} `);
    expect(dockerfile).toMatch(/^WORKDIR \/opt\/herald$/m);
    expect(dockerfile).toContain(`CMD ${JSON.stringify(container.command).replaceAll(",", ", ")}`);
  });
});
