import { createServer, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { createAdminKey, ServiceProcess } from "./support/distributed.js";
import { bearer } from "./support/admin-key.js";
import { eventually } from "./support/eventually.js";
import { freePort } from "./support/free-port.js";
import { WsAgent, description } from "./support/simulated-agent.js";

interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  links: { traceId: string; spanId: string }[];
  attributes: Record<string, string>;
}

/** A minimal OTLP/HTTP (JSON) trace receiver: what an OpenTelemetry Collector would get. */
const spans: ReceivedSpan[] = [];
let receiver: Server;
const processes: ServiceProcess[] = [];
let adminKey: string;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || "{}") as {
        resourceSpans?: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: (Omit<ReceivedSpan, "attributes"> & { attributes?: { key: string; value: { stringValue?: string } }[] })[] }[];
        }[];
      };
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes = Object.fromEntries((s.attributes ?? []).map((a) => [a.key, a.value.stringValue ?? ""]));
            spans.push({ service, name: s.name, traceId: s.traceId, spanId: s.spanId, links: s.links ?? [], attributes });
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  const otlpPort = await freePort();
  await new Promise<void>((r) => receiver.listen(otlpPort, "127.0.0.1", () => r()));
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}` };
  const dir = mkdtempSync(join(tmpdir(), "fleetplane-tracing-"));
  adminKey = await createAdminKey(["--data-dir", join(dir, "a"), "--name", "tracing"]);
  const commandInternal = await freePort();
  const agentInternal = await freePort();
  const commands = new ServiceProcess("command-service", "command-service", await freePort(), ["--data-dir", join(dir, "c"), "--internal-port", String(commandInternal)], undefined, env);
  const agents = new ServiceProcess("agent-service", "agent-service", await freePort(), ["--data-dir", join(dir, "a"), "--internal-port", String(agentInternal), "--command-service-url", `http://127.0.0.1:${commandInternal}`], undefined, env);
  const gateway = new ServiceProcess("gateway", "gateway", await freePort(), ["--gateway-id", "gw-traced", "--agent-service-url", `http://127.0.0.1:${agentInternal}`], undefined, env);
  processes.push(commands, agents, gateway);
  for (const p of processes) await p.start();
}, 120_000);
afterAll(async () => {
  for (const p of processes.reverse()) await p.stop();
  receiver?.close();
}, 60_000);

describe("OpenTelemetry traces across the services (OTLP when configured)", () => {
  it("follow an agent message from the gateway's batch into agent-service", async () => {
    const gateway = processes[2]!;
    const agent = await WsAgent.connect(`ws://127.0.0.1:${gateway.port}/v1/opamp`);
    agent.send({ agentDescription: description("traced") as never });
    await eventually(() => agent.received[0]);
    const uid = instanceUidToHex(agent.uid);

    const message = await eventually(() => spans.find((s) => s.service === "gateway" && s.name === "opamp.message" && s.attributes["opamp.instance_uid"] === uid), 15_000, "gateway message span for this agent");
    const batch = await eventually(() => spans.find((s) => s.name === "opamp.report_batch" && s.links.some((l) => l.spanId === message.spanId)), 15_000, "batch span linked to it");
    const served = await eventually(() => spans.find((s) => s.service === "agent-service" && s.name === "fleetplane.agent.v1.AgentGatewayService/ReportMessages" && s.traceId === batch.traceId), 15_000, "agent-service span in the batch's trace");
    expect(served.spanId).not.toBe(batch.spanId);
    await agent.close();
  }, 60_000);

  it("carry an admin's trace through agent-service to command-service (its audit batch linked to it)", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const api = createClient(AgentService, createConnectTransport({ baseUrl: processes[1]!.url, httpVersion: "1.1", interceptors: [bearer(adminKey)] }));
    const gateway = processes[2]!;
    const agent = await WsAgent.connect(`ws://127.0.0.1:${gateway.port}/v1/opamp`);
    agent.send({ agentDescription: description("traced-admin") as never });
    await eventually(() => agent.received[0]);
    await api.setRemoteConfig(
      { instanceUid: instanceUidToHex(agent.uid), files: { "": { content: { case: "text", value: "a: 1\n" } } } },
      { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } },
    );
    await eventually(() => spans.find((s) => s.service === "agent-service" && s.name.endsWith("/SetRemoteConfig") && s.traceId === traceId), 15_000, "agent-service span");
    // The command's record goes to command-service in an audit batch: the
    // batch is its own trace, linked to the admin's, and command-service's
    // span is in the batch's trace.
    const batch = await eventually(() => spans.find((s) => s.service === "agent-service" && s.name === "fleetplane.audit_batch" && s.links.some((l) => l.traceId === traceId)), 15_000, "audit batch span linked to the admin's trace");
    const written = await eventually(() => spans.find((s) => s.service === "command-service" && s.name.endsWith("/WriteAuditBatch") && s.traceId === batch.traceId), 15_000, "command-service span in the batch's trace");
    expect(written.spanId).not.toBe(batch.spanId);
    await agent.close();
  }, 60_000);
});
