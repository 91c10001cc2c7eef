import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceUidToHex } from "@fleetplane/platform";
import { ensureTool } from "./support/child-process.js";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";
import { startTestServer } from "./support/standalone-server.js";

const run = promisify(execFile);
const BUF = join(import.meta.dirname, "..", "node_modules", ".bin", "buf");

let t: Awaited<ReturnType<typeof startTestServer>>;
let grpcurlBin: string;
let target: string;
/** The admin key grpcurl and buf curl pass: -H 'authorization: Bearer …'. */
let key: string;
beforeAll(async () => {
  grpcurlBin = process.env.FLEETPLANE_GRPCURL || (await ensureTool("grpcurl", "FLEETPLANE_GRPCURL"));
  t = await startTestServer();
  target = t.apiUrl.replace("http://", "");
  key = (await t.access.createApiKey({ name: "grpcurl", role: "admin" })).secret;
});
afterAll(async () => {
  await t?.close();
});

/** Runs the real grpcurl against the admin port (cleartext HTTP/2, no proto files: reflection), with the key unless `anonymous`. */
async function grpcurl(flags: string[], ...verbAndSymbol: string[]): Promise<{ out: string; err: string; code: number }> {
  return grpcurlAs(["-H", `authorization: Bearer ${key}`, ...flags], ...verbAndSymbol);
}

async function grpcurlAs(flags: string[], ...verbAndSymbol: string[]): Promise<{ out: string; err: string; code: number }> {
  try {
    const { stdout, stderr } = await run(grpcurlBin, ["-plaintext", ...flags, target, ...verbAndSymbol], { timeout: 20_000 });
    return { out: stdout, err: stderr, code: 0 };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; code?: number };
    return { out: x.stdout ?? "", err: x.stderr ?? "", code: x.code ?? 1 };
  }
}

describe("admins with grpcurl (gRPC server reflection, no proto files)", () => {
  it("lists every public service, including health and reflection, and no internal one", async () => {
    const { out } = await grpcurl([], "list");
    expect(out.trim().split("\n")).toEqual([
      "fleetplane.access.v1.AccessService",
      "fleetplane.agent.v1.AgentService",
      "fleetplane.agent.v1.ConnectionService",
      "fleetplane.agent.v1.EnrollmentService",
      "fleetplane.certificate.v1.CertificateService",
      "fleetplane.command.v1.CommandService",
      "fleetplane.fleet.v1.ConfigurationService",
      "fleetplane.fleet.v1.GroupService",
      "fleetplane.fleet.v1.NamespaceService",
      "fleetplane.fleet.v1.RolloutService",
      "fleetplane.package.v1.PackageService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("without a key, reflection and the API are refused (Unauthenticated); health stays open", async () => {
    const listed = await grpcurlAs([], "list");
    expect(listed.code).not.toBe(0);
    expect(listed.err).toMatch(/Unauthenticated/);
    const call = await grpcurlAs(["-H", "authorization: Bearer fpk_0000000000000000_" + "A".repeat(43), "-d", "{}"], "fleetplane.agent.v1.AgentService/ListAgents");
    expect(call.err).toMatch(/unknown API key 0{16}/);
    // Health itself needs no key (load balancers); grpcurl needs one for reflection only.
    const health = await grpcurlAs(["-reflect-header", `authorization: Bearer ${key}`], "grpc.health.v1.Health/Check");
    expect(JSON.parse(health.out)).toEqual({ status: "SERVING" });
  });

  it("does not describe or answer the internal services", async () => {
    const described = await grpcurl([], "describe", "fleetplane.agent.v1.AgentGatewayService");
    expect(described.code).not.toBe(0);
    expect(described.err).toMatch(/Symbol not found/);
    const recorder = await grpcurl([], "describe", "fleetplane.command.v1.CommandRecorderService");
    expect(recorder.err).toMatch(/Symbol not found/);
  });

  it("describes methods and messages, across imported files, and names an unknown symbol", async () => {
    const method = await grpcurl([], "describe", "fleetplane.agent.v1.AgentService.SetRemoteConfig");
    expect(method.out).toContain("rpc SetRemoteConfig ( .fleetplane.agent.v1.SetRemoteConfigRequest ) returns ( .fleetplane.agent.v1.SetRemoteConfigResponse )");
    const opamp = await grpcurl([], "describe", "opamp.proto.v1.AgentToServer");
    expect(opamp.out).toContain("uint64 sequence_num = 2;");
    const unknown = await grpcurl([], "describe", "no.such.Thing");
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toMatch(/Symbol not found: no.such.Thing/);
  });

  it("reaches CertificateService: lists CSRs by state, and names an unknown request", async () => {
    const listed = await grpcurl(["-d", '{"state":"CERTIFICATE_REQUEST_STATE_PENDING"}'], "fleetplane.certificate.v1.CertificateService/ListCertificateRequests");
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toEqual({});
    const approve = await grpcurl(["-d", `{"id":"${"0".repeat(32)}","approvedBy":"grpcurl"}`], "fleetplane.certificate.v1.CertificateService/ApproveCertificateRequest");
    expect(approve.err).toMatch(/NotFound/);
    expect(approve.err).toMatch(/certificate request 0{32} is not known/);
  });

  it("checks health", async () => {
    expect(JSON.parse((await grpcurl([], "grpc.health.v1.Health/Check")).out)).toEqual({ status: "SERVING" });
    const unknown = await grpcurl(["-d", '{"service":"no.Such"}'], "grpc.health.v1.Health/Check");
    expect(unknown.err).toMatch(/NotFound/);
  });

  it("lists agents and sets a remote config that reaches the connected agent", async () => {
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ agentDescription: description("grpcurl") as never });
    await eventually(() => agent.received[0]);
    const uid = instanceUidToHex(agent.uid);

    const listed = JSON.parse((await grpcurl(["-d", '{"filter":{"attributes":{"service.name":"grpcurl"}}}'], "fleetplane.agent.v1.AgentService/ListAgents")).out);
    expect(listed.agents).toHaveLength(1);

    const body = JSON.stringify({ instanceUid: uid, files: { "": { text: "exporters: {debug: {}}\n", contentType: "text/yaml" } }, requestedBy: "grpcurl" });
    const set = await grpcurl(["-d", body], "fleetplane.agent.v1.AgentService/SetRemoteConfig");
    expect(set.code).toBe(0);
    expect(JSON.parse(set.out).pushed).toBe(true);
    const push = await eventually(() => agent.received.find((m) => m.remoteConfig));
    expect(new TextDecoder().decode(push.remoteConfig!.config!.configMap[""]!.body)).toBe("exporters: {debug: {}}\n");
    await agent.close();
  });

  it("registers a package and lists it (JSON bytes are base64)", async () => {
    const sha256 = createHash("sha256").update("otelcol 0.120.0").digest("base64");
    const body = JSON.stringify({ name: "otelcol", version: "0.120.0", type: "PackageType_TopLevel", downloadUrl: "https://pkgs.example/otelcol-0.120.0.tgz", sha256, requestedBy: "grpcurl" });
    const registered = await grpcurl(["-d", body], "fleetplane.package.v1.PackageService/RegisterPackage");
    expect(registered.code, registered.err).toBe(0);
    expect(JSON.parse(registered.out).created).toBe(true);
    const listed = JSON.parse((await grpcurl(["-d", '{"name":"otelcol"}'], "fleetplane.package.v1.PackageService/ListPackages")).out);
    expect(listed.packages.map((p: { version: string; sha256: string }) => [p.version, p.sha256])).toEqual([["0.120.0", sha256]]);
    const missing = await grpcurl(["-d", '{"name":"otelcol","version":"0.0.1"}'], "fleetplane.package.v1.PackageService/GetPackage");
    expect(missing.err).toMatch(/NotFound/);
  });

  it("works with buf curl over gRPC too", async () => {
    // buf curl sends -H headers with the RPC only; --reflect-header '*' sends them with reflection too.
    const auth = ["-H", `authorization: Bearer ${key}`, "--reflect-header", "*"];
    const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...auth, "--list-services", t.apiUrl], { timeout: 20_000 });
    expect(stdout).toContain("fleetplane.command.v1.CommandService");
    const { stdout: commands } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...auth, "-d", '{"pageSize":1}', `${t.apiUrl}/fleetplane.command.v1.CommandService/ListCommands`], { timeout: 20_000 });
    // The audit names grpcurl's key, whatever requested_by the body said.
    expect(JSON.parse(commands).commands[0].requestedBy).toBe("key:grpcurl");
  });
});
