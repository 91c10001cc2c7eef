import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AgentCapabilities, ConnectionSettingsStatuses, PackageStatusEnum, PackageStatusSchema, PackageType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex } from "@fleetplane/platform";
import { CAPS, WsAgent, description } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** Connection settings and packages an admin offers reach a capable agent at once; an agent that cannot take them is not offered them. */
export function offersBehaviour(topology: Topology): void {
  describe("offers", () => {
    it("connection settings and packages reach a capable agent at once, and its reports settle the audit", async () => {
      const t = topology();
      const caps =
        CAPS |
        BigInt(
          AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings |
            AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus |
            AgentCapabilities.AgentCapabilities_AcceptsPackages |
            AgentCapabilities.AgentCapabilities_ReportsPackageStatuses,
        );
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: caps, agentDescription: description("offers") as never });
      await eventually(() => agent.received[0]);

      const settings = await t.agents.setConnectionSettings({
        instanceUid: hex(agent.uid),
        offers: { opamp: { destinationEndpoint: "wss://opamp.example/v1/opamp", heartbeatIntervalSeconds: 30n } },
        requestedBy: "e2e",
      });
      expect(settings.pushed).toBe(true);
      const offer = await eventually(() => agent.received.find((m) => m.connectionSettings)?.connectionSettings);
      expect(offer.opamp?.destinationEndpoint).toBe("wss://opamp.example/v1/opamp");
      agent.send({
        capabilities: caps,
        connectionSettingsStatus: { $typeName: "opamp.proto.v1.ConnectionSettingsStatus", lastConnectionSettingsHash: offer.hash, status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED, errorMessage: "" },
      });
      await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "connection_settings" && c.state === CommandState.APPLIED), 10_000, "settings applied in the audit");

      const packages = await t.agents.setPackagesAvailable({
        instanceUid: hex(agent.uid),
        packages: { collector: { type: PackageType.PackageType_TopLevel, version: "0.120.0", file: { downloadUrl: "https://pkgs.example/collector-0.120.0.tgz", contentHash: new Uint8Array(32) } } },
        requestedBy: "e2e",
      });
      expect(packages.pushed).toBe(true);
      const available = await eventually(() => agent.received.find((m) => m.packagesAvailable)?.packagesAvailable);
      expect(available.packages.collector?.version).toBe("0.120.0");
      agent.send({
        capabilities: caps,
        packageStatuses: {
          $typeName: "opamp.proto.v1.PackageStatuses",
          serverProvidedAllPackagesHash: available.allPackagesHash,
          errorMessage: "",
          packages: { collector: create(PackageStatusSchema, { name: "collector", agentHasVersion: "0.120.0", serverOfferedVersion: "0.120.0", status: PackageStatusEnum.PackageStatusEnum_Installed }) },
        },
      });
      await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "packages" && c.state === CommandState.APPLIED), 10_000, "packages applied in the audit");
      const { agent: stored } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(stored?.status?.packageStatuses?.packages.collector?.agentHasVersion).toBe("0.120.0");
      await agent.close();
    });

    it("of packages to an agent that cannot take them are refused with FailedPrecondition", async () => {
      const t = topology();
      const plain = await WsAgent.connect(t.wsUrl);
      plain.send({ agentDescription: description() as never });
      await eventually(() => plain.received[0]);
      await expect(t.agents.setPackagesAvailable({ instanceUid: hex(plain.uid), packages: {} })).rejects.toMatchObject({ code: 9 }); // FailedPrecondition
      await plain.close();
    });
  });
}
