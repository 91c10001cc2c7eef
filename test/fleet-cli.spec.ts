import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceUidToHex as hex } from "@fleetplane/platform";
import { WsAgent, description } from "./support/simulated-agent.js";
import { eventually } from "./support/eventually.js";
import { runFleetplane } from "./support/fleetplane-cli.js";
import { startTestServer } from "./support/standalone-server.js";

type Server = Awaited<ReturnType<typeof startTestServer>>;
let t: Server;
const agents: WsAgent[] = [];

/** `fleetplane <args>` against the test server, with its admin key. */
const fleetplane = (args: string[]) => runFleetplane(args, t);

const configuration = (body: string) => `
kind: Configuration
name: cli-gateway
message: from git
files:
  collector.yaml:
    content: "${body}"
`;
const groups = `
kind: Group
name: cli-checkout
priority: 10
selector:
  matchLabels: {service.name: cli-checkout}
configuration: cli-gateway
version: latest
---
kind: Group
name: cli-pinned
priority: 1
selector:
  matchExpressions:
    - {key: service.name, operator: In, values: [cli-checkout, cli-other]}
configuration: cli-gateway
version: 1
`;

function manifests(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "fleetplane-apply-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

beforeAll(async () => {
  t = await startTestServer({ console: false });
  for (let i = 0; i < 2; i++) {
    const a = await WsAgent.connect(t.wsUrl);
    a.send({ agentDescription: description("cli-checkout") as never });
    await eventually(() => a.received[0]);
    agents.push(a);
  }
}, 30_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await t?.close();
});

describe("fleetplane apply", () => {
  it("plans without --yes (changing nothing), applies with it, and a second apply reports everything unchanged", async () => {
    const dir = manifests({ "10-namespace.yaml": "kind: Namespace\nname: cli-team\n", "20-configuration.yaml": configuration("one"), "30-groups.yml": groups });

    const plan = await fleetplane(["apply", "-f", dir]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/namespace\/cli-team\s+created/);
    expect(plan.stdout).toMatch(/configuration\/default\/cli-gateway\s+created\s+version 1/);
    expect(plan.stdout).toMatch(/group\/default\/cli-checkout\s+created .*\(moves 2 agents\)/);
    // The lower-priority group wins no agent: nobody moves because of it.
    expect(plan.stdout).toMatch(/group\/default\/cli-pinned\s+created .*\(moves 0 agents\)/);
    expect(plan.stdout).toContain("Nothing applied: run again with --yes to apply.");
    await expect(t.configurations.getConfiguration({ name: "cli-gateway" })).rejects.toMatchObject({ code: 5 });

    const applied = await fleetplane(["apply", "-f", dir, "--yes"]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/Applied:\n(.*\n)*\s+group\/default\/cli-checkout\s+created .*\(moved 2 agents\)/);
    for (const a of agents) await eventually(() => a.received.find((m) => m.remoteConfig?.config?.configMap["collector.yaml"]));
    expect((await t.groups.getGroup({ name: "cli-checkout" })).status).toMatchObject({ matched: 2n, assigned: 2n });

    const again = await fleetplane(["apply", "-f", dir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("0 to create, 0 to change, 4 unchanged.");

    // New files: a new version, and the group on "latest" follows it; the pinned group stays.
    writeFileSync(join(dir, "20-configuration.yaml"), configuration("two"));
    const changed = await fleetplane(["apply", "-f", dir, "--yes"]);
    expect(changed.stdout).toMatch(/configuration\/default\/cli-gateway\s+changed\s+version 1 → 2/);
    expect(changed.stdout).toMatch(/group\/default\/cli-checkout\s+changed\s+cli-gateway v1, priority 10 → cli-gateway v2, priority 10\s+\(moves 2 agents\)/);
    expect(changed.stdout).toMatch(/group\/default\/cli-pinned\s+unchanged/);
    expect((await t.groups.getGroup({ name: "cli-checkout" })).group!.configurationVersion).toBe(2);
    for (const a of agents) await eventually(() => a.received.find((m) => new TextDecoder().decode(m.remoteConfig?.config?.configMap["collector.yaml"]?.body) === "two"));
  }, 60_000);

  it("an invalid document names its file, document and field, and nothing is applied", async () => {
    const dir = manifests({
      "a.yaml": "kind: Namespace\nname: cli-never\n---\nkind: Gadget\nname: x\n",
      "b.yaml": "kind: Group\nname: cli-bad\nconfiguration: cli-gateway\nselector:\n  matchExpressions:\n    - {key: env, operator: Has}\n",
      "c.yaml": "kind: Group\nname: cli-orphan\nconfiguration: cli-missing\n",
    });
    const r = await fleetplane(["apply", "-f", dir, "--yes"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${join(dir, "a.yaml")}, document 2, field kind: "Gadget" is not a kind`);
    expect(r.stdout).toContain(`${join(dir, "b.yaml")}, document 1, field selector.match_expressions[0].operator:`);
    expect(r.stdout).toContain("Nothing applied");
    await expect(t.namespaces.getNamespace({ name: "cli-never" })).rejects.toMatchObject({ code: 5 });

    // With the file problems mended, the server-side check finds the missing configuration.
    const unparsable = manifests({ "a.yaml": "kind: Namespace\nname: cli-never\n", "b.yaml": "kind: [unclosed\n", "c.yaml": "kind: Group\nname: cli-orphan\nconfiguration: cli-missing\n" });
    const parse = await fleetplane(["apply", "-f", unparsable, "--yes"]);
    expect(parse.code).toBe(1);
    expect(parse.stdout).toContain(`${join(unparsable, "b.yaml")}, document 1: not valid YAML`);
    const missing = manifests({ "a.yaml": "kind: Namespace\nname: cli-never\n", "c.yaml": "kind: Group\nname: cli-orphan\nconfiguration: cli-missing\n" });
    const ref = await fleetplane(["apply", "-f", missing, "--yes"]);
    expect(ref.code).toBe(1);
    expect(ref.stdout).toContain(`${join(missing, "c.yaml")}, document 1, field configuration: configuration "cli-missing" does not exist in namespace "default"`);
    await expect(t.namespaces.getNamespace({ name: "cli-never" })).rejects.toMatchObject({ code: 5 });
  }, 60_000);
});

describe("fleetplane get", () => {
  it("prints agents with their group, configuration version and why, as a table and as JSON; groups with their status", async () => {
    const table = await fleetplane(["get", "agents"]);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^UID\s+NAMESPACE\s+GROUP\s+CONFIG VERSION\s+WHY\s+CONNECTED\s+HEALTHY$/);
    for (const a of agents) expect(table.stdout).toMatch(new RegExp(`${hex(a.uid)}\\s+default\\s+cli-checkout\\s+cli-gateway v\\d\\s+group cli-checkout\\s+yes`));

    const json = await fleetplane(["get", "agents", "-o", "json"]);
    const listed = JSON.parse(json.stdout) as { spec?: { assignment?: { group?: string } } }[];
    expect(listed.filter((a) => a.spec?.assignment?.group === "cli-checkout")).toHaveLength(2);

    const groups = await fleetplane(["get", "groups", "-o", "yaml"]);
    expect(groups.stdout).toContain("name: cli-checkout");
    const groupTable = await fleetplane(["get", "groups"]);
    expect(groupTable.stdout).toMatch(/cli-checkout\s+10\s+cli-gateway\s+2\s+2\s+2\s+2/);
    expect((await fleetplane(["get", "namespaces"])).stdout).toMatch(/^default\s/m);
  }, 60_000);

  it("--help explains both commands; a wrong resource is a usage error", async () => {
    const help = await fleetplane(["apply", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--api-key");
    expect(help.stdout).toContain("env: FLEETPLANE_SERVER");
    expect((await fleetplane(["get", "--help"])).stdout).toContain("agents|groups|configurations|namespaces");
    const wrong = await fleetplane(["get", "gadgets"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('got "gadgets"');
  }, 30_000);
});
