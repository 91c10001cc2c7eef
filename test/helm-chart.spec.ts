import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureTool } from "./support/child-process.js";

const run = promisify(execFile);
const CHART = join(import.meta.dirname, "..", "deploy", "helm", "fleetplane");
let helm: string;
beforeAll(async () => {
  helm = process.env.FLEETPLANE_HELM || (await ensureTool("helm", "FLEETPLANE_HELM"));
}, 600_000);

describe("the Helm chart", () => {
  it("passes helm lint", async () => {
    const { stdout } = await run(helm, ["lint", CHART], { timeout: 60_000 });
    expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it("renders the three services with their settings, probes and the pod name as gateway id", async () => {
    const { stdout } = await run(helm, ["template", "fp", CHART, "--set", "gateway.replicas=3", "--set", "natsUrl=nats://nats.example:4222"], { timeout: 60_000 });
    const docs = stdout.split(/^---$/m);
    const deployment = (name: string) => docs.find((d) => d.includes("kind: Deployment") && d.includes(`name: fp-${name}\n`)) ?? "";
    expect(deployment("gateway")).toContain("replicas: 3");
    expect(deployment("gateway")).toMatch(/FLEETPLANE_GATEWAY_ID[\s\S]*fieldPath: metadata\.name/);
    expect(deployment("gateway")).toContain("http://fp-agent-service:4322");
    expect(deployment("agent-service")).toContain("nats://nats.example:4222");
    expect(deployment("agent-service")).toContain("http://fp-command-service:4323");
    expect(deployment("command-service")).toContain("FLEETPLANE_MONGO_URL");
    for (const name of ["gateway", "agent-service", "command-service"]) {
      expect(deployment(name), name).toMatch(/readinessProbe:[\s\S]*path: \/(readyz|healthz)/);
    }
  });
});
