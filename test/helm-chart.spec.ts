import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { envName } from "@fleetplane/platform";
import { COMMAND_OPTIONS } from "@fleetplane/server";
import { ensureTool } from "./support/child-process.js";

const run = promisify(execFile);
const CHART = join(import.meta.dirname, "..", "deploy", "helm", "fleetplane");
let helm: string;
beforeAll(async () => {
  helm = process.env.FLEETPLANE_HELM || (await ensureTool("helm", "FLEETPLANE_HELM"));
}, 600_000);

/** `helm template` with --set values: its documents. */
async function renderDocs(...sets: string[]): Promise<string[]> {
  const { stdout } = await run(helm, ["template", "fp", CHART, ...sets.flatMap((s) => ["--set", s])], { timeout: 60_000 });
  return stdout.split(/^---$/m);
}

/** `helm template` with --set values; its Deployments by component name. */
async function render(...sets: string[]): Promise<Record<string, string>> {
  const deployments: Record<string, string> = {};
  for (const doc of await renderDocs(...sets)) {
    const name = /^kind: Deployment$[\s\S]*?^  name: fp-(.+)$/m.exec(doc)?.[1];
    if (name) deployments[name] = doc;
  }
  return deployments;
}

const CSR_SETS = [
  "agentService.csr.caSecretName=fleetplane-csr-ca",
  "agentService.csr.approval=auto",
  "agentService.csr.certValidityDays=30",
  "agentService.csr.opampEndpoint=wss://opamp.example/v1/opamp",
];

const OPAMP_TLS_SETS = [
  "gateway.agentAuth=token+mtls",
  "gateway.tls.secretName=opamp-tls",
  "gateway.tls.clientCaSecretName=fleetplane-csr-ca",
  "gateway.tls.clientCaKey=tls.crt",
  "gateway.trustedProxies={10.0.0.0/8,192.0.2.7}",
];

// The CA in a Secret of its own, under a key other than the default, so that both values are seen used.
const INTERNAL_TLS_SETS = ["internal.tls.secretName=fleetplane-internal-tls", "internal.tls.caSecretName=fleetplane-internal-ca", "internal.tls.caKey=tls.crt"];

const CONSOLE_OIDC_SETS = [
  "admin.oidc.issuer=https://login.example",
  "admin.oidc.audience=fleetplane\\,fleetplane-console",
  "admin.oidc.console.clientId=fleetplane-console",
  "admin.oidc.console.scopes=openid profile roles",
  "admin.oidc.console.token=access",
];

/** The internal port's line of a component's Service. */
const internalServicePort = (docs: string[], name: string) =>
  /- \{ name: internal, .*\}/.exec(docs.find((d) => /^kind: Service$/m.test(d) && d.includes(`name: fp-${name}\n`)) ?? "")?.[0] ?? "";

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
    // Services call each other on the internal ports, with the generated token.
    expect(deployment("gateway")).toContain("http://fp-agent-service:4332");
    expect(deployment("gateway")).toContain('name: FLEETPLANE_AGENT_AUTH, value: "token"');
    expect(deployment("agent-service")).toContain("nats://nats.example:4222");
    expect(deployment("agent-service")).toContain("http://fp-command-service:4333");
    for (const name of ["gateway", "agent-service", "command-service"]) {
      expect(deployment(name), name).toContain("name: FLEETPLANE_INTERNAL_TOKEN_FILE, value: /etc/fleetplane/internal/token");
      expect(deployment(name), name).toMatch(/secretName: "fp-internal-token"/);
    }
    expect(docs.find((d) => d.includes("kind: Secret") && d.includes("name: fp-internal-token"))).toMatch(/token: [A-Za-z0-9+/=]{64}/);
    expect(deployment("agent-service")).toContain('name: FLEETPLANE_PUBLIC_HOST, value: "fp-agent-service,');
    expect(deployment("command-service")).toContain("FLEETPLANE_MONGO_URL");
    for (const name of ["gateway", "agent-service", "command-service"]) {
      expect(deployment(name), name).toMatch(/readinessProbe:[\s\S]*path: \/(readyz|healthz)/);
    }
  });

  it("gives agent-service the CSR settings and the CA Secret as files when a Secret is named", async () => {
    const agentService = (await render(...CSR_SETS))["agent-service"] ?? "";
    expect(agentService).toMatch(/name: FLEETPLANE_CSR_CA_CERT, value: \/etc\/fleetplane\/csr-ca\/ca\.crt/);
    expect(agentService).toMatch(/name: FLEETPLANE_CSR_CA_KEY, value: \/etc\/fleetplane\/csr-ca\/ca\.key/);
    expect(agentService).toContain('name: FLEETPLANE_CSR_APPROVAL, value: "auto"');
    expect(agentService).toContain('name: FLEETPLANE_CSR_CERT_VALIDITY_DAYS, value: "30"');
    expect(agentService).toContain('name: FLEETPLANE_CSR_OPAMP_ENDPOINT, value: "wss://opamp.example/v1/opamp"');
    expect(agentService).toMatch(/volumes:[\s\S]*name: csr-ca[\s\S]*secretName: "fleetplane-csr-ca"/);
    expect(agentService).toMatch(/volumeMounts:[\s\S]*- \{ name: csr-ca, mountPath: \/etc\/fleetplane\/csr-ca, readOnly: true \}/);
    expect(agentService).not.toMatch(/CSR_DEV_CA|csr-dev-ca/i);
  });

  it("renders no CSR settings, volume or mount when no CA Secret is named, and refuses an unknown approval mode", async () => {
    const deployments = await render();
    for (const [name, doc] of Object.entries(deployments)) {
      expect(doc, name).not.toMatch(/csr/i);
      // Only the internal token is mounted.
      expect(doc, name).not.toMatch(/name: csr-ca/);
      expect(doc, name).toMatch(/volumes:\s*- name: internal-token/);
    }
    await expect(render("agentService.csr.caSecretName=ca", "agentService.csr.approval=yes")).rejects.toThrow(/approval must be auto or manual/);
  });

  it("passes the heartbeat, ping, console, custom capability and agent retention settings to the services that take them", async () => {
    const d = await render(
      "gateway.heartbeatMissedIntervals=5",
      "gateway.defaultHeartbeatIntervalSeconds=20",
      "gateway.wsPingIntervalSeconds=0",
      "agentService.heartbeatIntervalSeconds=15",
      "agentService.agentRetention=12h",
      "agentService.console=false",
      "agentService.customCapabilities={com.example.pause,com.example.tail/v2}",
    );
    expect(d.gateway).toContain('name: FLEETPLANE_HEARTBEAT_MISSED_INTERVALS, value: "5"');
    expect(d.gateway).toContain('name: FLEETPLANE_DEFAULT_HEARTBEAT_INTERVAL_SECONDS, value: "20"');
    expect(d.gateway).toContain('name: FLEETPLANE_WS_PING_INTERVAL_SECONDS, value: "0"');
    expect(d["agent-service"]).toContain('name: FLEETPLANE_HEARTBEAT_INTERVAL_SECONDS, value: "15"');
    expect(d["agent-service"]).toContain('name: FLEETPLANE_AGENT_RETENTION, value: "12h"');
    expect(d["agent-service"]).toContain('name: FLEETPLANE_CONSOLE, value: "false"');
    expect(d["agent-service"]).toContain('name: FLEETPLANE_CUSTOM_CAPABILITIES, value: "com.example.pause,com.example.tail/v2"');
    expect((await render())["agent-service"]).not.toContain("FLEETPLANE_CUSTOM_CAPABILITIES");
    expect((await render())["agent-service"]).toContain('name: FLEETPLANE_AGENT_RETENTION, value: "30d"');
  });

  it("passes the gateway's abuse limits (timeouts, connection and new-agent caps, warning interval, message contents) to the gateway", async () => {
    const d = await render(
      "gateway.firstMessageTimeoutSeconds=20",
      "gateway.handshakeTimeoutSeconds=5",
      "gateway.maxConnections=9000",
      "gateway.newAgentsPerSecondPerSource=0",
      "gateway.newAgentsPerSecond=100",
      "gateway.warningLogIntervalSeconds=30",
      "gateway.limits.descriptionAttributes=200",
      "gateway.limits.healthDepth=4",
    );
    expect(d.gateway).toContain('name: FLEETPLANE_FIRST_MESSAGE_TIMEOUT_SECONDS, value: "20"');
    expect(d.gateway).toContain('name: FLEETPLANE_HANDSHAKE_TIMEOUT_SECONDS, value: "5"');
    expect(d.gateway).toContain('name: FLEETPLANE_MAX_CONNECTIONS, value: "9000"');
    expect(d.gateway).toContain('name: FLEETPLANE_NEW_AGENTS_PER_SECOND_PER_SOURCE, value: "0"');
    expect(d.gateway).toContain('name: FLEETPLANE_NEW_AGENTS_PER_SECOND, value: "100"');
    expect(d.gateway).toContain('name: FLEETPLANE_WARNING_LOG_INTERVAL_SECONDS, value: "30"');
    expect(d.gateway).toContain('name: FLEETPLANE_MAX_DESCRIPTION_ATTRIBUTES, value: "200"');
    expect(d.gateway).toContain('name: FLEETPLANE_MAX_HEALTH_DEPTH, value: "4"');
    expect(d.gateway).toContain('name: FLEETPLANE_MAX_EFFECTIVE_CONFIG_BYTES, value: "16777216"');
  });

  it("gives the gateway TLS from a Secret, the agents' client CA (mTLS), the agent authentication mode and trusted proxies; token authentication and plain HTTP by default", async () => {
    const plain = (await render()).gateway ?? "";
    expect(plain).toContain('name: FLEETPLANE_AGENT_AUTH, value: "token"');
    expect(plain).not.toMatch(/FLEETPLANE_TLS_|FLEETPLANE_AGENT_CLIENT_CA|FLEETPLANE_TRUSTED_PROXIES|opamp-tls|opamp-client-ca/);
    expect(plain).toMatch(/readinessProbe:\s*httpGet: \{ path: \/healthz, port: http, scheme: HTTP \}/);

    const gateway = (await render(...OPAMP_TLS_SETS))["gateway"] ?? "";
    expect(gateway).toContain('name: FLEETPLANE_AGENT_AUTH, value: "token+mtls"');
    expect(gateway).toContain("name: FLEETPLANE_TLS_CERT, value: /etc/fleetplane/opamp-tls/tls.crt");
    expect(gateway).toContain("name: FLEETPLANE_TLS_KEY, value: /etc/fleetplane/opamp-tls/tls.key");
    expect(gateway).toContain("name: FLEETPLANE_AGENT_CLIENT_CA, value: /etc/fleetplane/opamp-client-ca/ca.crt");
    expect(gateway).toContain('name: FLEETPLANE_TRUSTED_PROXIES, value: "10.0.0.0/8,192.0.2.7"');
    expect(gateway).toMatch(/volumes:[\s\S]*name: opamp-tls\s*secret: \{ secretName: "opamp-tls" \}/);
    expect(gateway).toMatch(/name: opamp-client-ca\s*secret: \{ secretName: "fleetplane-csr-ca", items: \[\{ key: "tls.crt", path: ca.crt \}\] \}/);
    expect(gateway).toContain("- { name: opamp-tls, mountPath: /etc/fleetplane/opamp-tls, readOnly: true }");
    expect(gateway).toContain("- { name: opamp-client-ca, mountPath: /etc/fleetplane/opamp-client-ca, readOnly: true }");
    // The probes speak TLS to a TLS port (a client certificate is asked for, not required, off the OpAMP paths).
    expect(gateway).toMatch(/readinessProbe:\s*httpGet: \{ path: \/healthz, port: http, scheme: HTTPS \}/);

    await expect(render("gateway.agentAuth=mtls")).rejects.toThrow(/needs gateway.tls.secretName and gateway.tls.clientCaSecretName/);
    await expect(render("gateway.agentAuth=cert")).rejects.toThrow(/must be none, token, mtls or token\+mtls/);
    await expect(render("gateway.tls.clientCaSecretName=ca")).rejects.toThrow(/needs gateway.tls.secretName/);
  });

  it("serves the internal listeners over TLS when both Secrets are named: the certificate where a service listens, the CA where it calls, every internal URL https://", async () => {
    const plainDocs = await renderDocs();
    expect(plainDocs.join("---")).not.toMatch(/INTERNAL_TLS|internal-tls|https:\/\/fp-/);
    expect(plainDocs.join("---")).toContain('name: FLEETPLANE_AGENT_SERVICE_URL, value: "http://fp-agent-service:4332"');
    expect(plainDocs.join("---")).toContain('name: FLEETPLANE_COMMAND_SERVICE_URL, value: "http://fp-command-service:4333"');
    for (const name of ["agent-service", "command-service"]) expect(internalServicePort(plainDocs, name), name).toContain("appProtocol: kubernetes.io/h2c");

    const docs = await renderDocs(...INTERNAL_TLS_SETS);
    const d = await render(...INTERNAL_TLS_SETS);
    const CERT = "name: FLEETPLANE_INTERNAL_TLS_CERT, value: /etc/fleetplane/internal-tls/tls.crt";
    const KEY = "name: FLEETPLANE_INTERNAL_TLS_KEY, value: /etc/fleetplane/internal-tls/tls.key";
    const CA = "name: FLEETPLANE_INTERNAL_TLS_CA, value: /etc/fleetplane/internal-tls-ca/ca.crt";
    const CERT_VOLUME = /- name: internal-tls\s*secret: \{ secretName: "fleetplane-internal-tls", defaultMode: 0440, items: \[\{ key: tls\.crt, path: tls\.crt \}, \{ key: tls\.key, path: tls\.key \}\] \}/;
    const CA_VOLUME = /- name: internal-tls-ca\s*secret: \{ secretName: "fleetplane-internal-ca", items: \[\{ key: "tls\.crt", path: ca\.crt \}\] \}/;
    const CERT_MOUNT = "- { name: internal-tls, mountPath: /etc/fleetplane/internal-tls, readOnly: true }";
    const CA_MOUNT = "- { name: internal-tls-ca, mountPath: /etc/fleetplane/internal-tls-ca, readOnly: true }";
    // Listens (gateways call it) and calls command-service: both.
    for (const line of [CERT, KEY, CA, CERT_MOUNT, CA_MOUNT]) expect(d["agent-service"], line).toContain(line);
    expect(d["agent-service"]).toMatch(CERT_VOLUME);
    expect(d["agent-service"]).toMatch(CA_VOLUME);
    expect(d["agent-service"]).toContain('name: FLEETPLANE_COMMAND_SERVICE_URL, value: "https://fp-command-service:4333"');
    // Listens only: the certificate, not the CA (its CLI has no --internal-tls-ca).
    for (const line of [CERT, KEY, CERT_MOUNT]) expect(d["command-service"], line).toContain(line);
    expect(d["command-service"]).toMatch(CERT_VOLUME);
    expect(d["command-service"]).not.toMatch(/INTERNAL_TLS_CA|internal-tls-ca/);
    // Calls only: the CA, never the listeners' private key.
    for (const line of [CA, CA_MOUNT]) expect(d.gateway, line).toContain(line);
    expect(d.gateway).toMatch(CA_VOLUME);
    expect(d.gateway).not.toMatch(/INTERNAL_TLS_CERT|INTERNAL_TLS_KEY|tls\.key|name: internal-tls\s/);
    expect(d.gateway).toContain('name: FLEETPLANE_AGENT_SERVICE_URL, value: "https://fp-agent-service:4332"');
    expect(docs.join("---")).not.toMatch(/http:\/\/fp-/);
    for (const name of ["agent-service", "command-service"]) expect(internalServicePort(docs, name), name).toContain("appProtocol: https");
    // The admin ports are not touched by it.
    expect(d["agent-service"]).not.toMatch(/API_TLS|api-tls/);

    // One Secret for both (cert-manager writes ca.crt beside tls.crt and tls.key): only its ca.crt reaches the callers.
    const one = await render("internal.tls.secretName=internal", "internal.tls.caSecretName=internal");
    expect(one.gateway).toMatch(/- name: internal-tls-ca\s*secret: \{ secretName: "internal", items: \[\{ key: "ca\.crt", path: ca\.crt \}\] \}/);
  });

  it("refuses internal TLS settings the services could not start or call with, naming the value", async () => {
    await expect(render("internal.tls.secretName=internal")).rejects.toThrow(/internal\.tls\.secretName needs internal\.tls\.caSecretName/);
    await expect(render("internal.tls.caSecretName=ca")).rejects.toThrow(/internal\.tls\.caSecretName needs internal\.tls\.secretName/);
    await expect(render(...INTERNAL_TLS_SETS, "internal.tls.caKey=")).rejects.toThrow(/internal\.tls\.caKey must name/);
  });

  it("gives agent-service, which serves the console, the console's OIDC sign-in only when a client id is set", async () => {
    for (const [name, doc] of Object.entries(await render("admin.oidc.issuer=https://login.example", "admin.oidc.audience=fleetplane"))) {
      expect(doc, name).not.toContain("FLEETPLANE_OIDC_CONSOLE");
    }
    const d = await render(...CONSOLE_OIDC_SETS);
    expect(d["agent-service"]).toContain('name: FLEETPLANE_OIDC_CONSOLE_CLIENT_ID, value: "fleetplane-console"');
    expect(d["agent-service"]).toContain('name: FLEETPLANE_OIDC_CONSOLE_SCOPES, value: "openid profile roles"');
    expect(d["agent-service"]).toContain('name: FLEETPLANE_OIDC_CONSOLE_TOKEN, value: "access"');
    expect(d["agent-service"]).toContain('name: FLEETPLANE_OIDC_AUDIENCE, value: "fleetplane,fleetplane-console"');
    // command-service serves no console; gateways no admin API at all.
    expect(d["command-service"]).toContain('name: FLEETPLANE_OIDC_ISSUER, value: "https://login.example"');
    for (const name of ["command-service", "gateway"]) expect(d[name], name).not.toContain("FLEETPLANE_OIDC_CONSOLE");
    // The defaults: the ID token, openid profile.
    const defaults = (await render(...CONSOLE_OIDC_SETS.slice(0, 3)))["agent-service"];
    expect(defaults).toContain('name: FLEETPLANE_OIDC_CONSOLE_SCOPES, value: "openid profile"');
    expect(defaults).toContain('name: FLEETPLANE_OIDC_CONSOLE_TOKEN, value: "id"');
  });

  it("refuses console OIDC settings the server would refuse at start (or that would do nothing), naming the value", async () => {
    await expect(render("admin.oidc.console.clientId=console")).rejects.toThrow(/admin\.oidc\.console\.clientId needs admin\.oidc\.issuer/);
    await expect(render(...CONSOLE_OIDC_SETS, "admin.oidc.console.token=jwt")).rejects.toThrow(/admin\.oidc\.console\.token must be id or access, got jwt/);
    await expect(render(...CONSOLE_OIDC_SETS, "admin.oidc.console.scopes=profile roles")).rejects.toThrow(/admin\.oidc\.console\.scopes must include openid, got "profile roles"/);
    await expect(render(...CONSOLE_OIDC_SETS, "agentService.console=false")).rejects.toThrow(/admin\.oidc\.console\.clientId is set but agentService\.console is false/);
    // A scope list merely containing the word is not openid.
    await expect(render(...CONSOLE_OIDC_SETS, "admin.oidc.console.scopes=openidx profile")).rejects.toThrow(/must include openid/);
  });

  it("sets only FLEETPLANE_* variables and flags that the command each Deployment runs accepts", async () => {
    // With every optional setting on, so that all the chart can render is checked.
    const deployments = await render(
      ...CSR_SETS,
      ...OPAMP_TLS_SETS,
      "agentService.customCapabilities={com.example.pause}",
      ...INTERNAL_TLS_SETS,
      ...CONSOLE_OIDC_SETS,
      "admin.oidc.jwksUrl=https://login.example/jwks",
      "admin.tlsSecretName=admin-tls",
      "admin.corsAllowedOrigins={https://ops.example}",
      "admin.publicHosts={fleet.example}",
    );
    expect(Object.keys(deployments).sort()).toEqual(["agent-service", "command-service", "gateway"]);
    for (const [name, doc] of Object.entries(deployments)) {
      const command = /args: \["([a-z-]+)"/.exec(doc)?.[1];
      expect(command, name).toBe(name);
      const options = COMMAND_OPTIONS[command as keyof typeof COMMAND_OPTIONS];
      const accepted = new Set(options.map((o) => envName(o.name)));
      const rendered = [...doc.matchAll(/name: (FLEETPLANE_[A-Z0-9_]+)/g)].map((m) => m[1]);
      expect(rendered.length, name).toBeGreaterThan(0);
      expect(rendered.filter((e) => !accepted.has(e!)), `${name}: variables its CLI does not accept`).toEqual([]);
      const flags = [...(/args: \[(.*)\]/.exec(doc)?.[1] ?? "").matchAll(/"--([a-z-]+)"/g)].map((m) => m[1]);
      const names = new Set(options.map((o) => o.name));
      expect(flags.filter((f) => !names.has(f!)), `${name}: flags its CLI does not accept`).toEqual([]);
    }
  });
});
