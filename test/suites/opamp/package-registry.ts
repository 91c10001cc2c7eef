import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AgentCapabilities, PackageStatusEnum, PackageStatusSchema, PackageType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { CAPS, WsAgent, description } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** Packages registered by name and version are offered to agents, whose install reports show in GetAgent and settle the audit. */
export function packageRegistryBehaviour(topology: Topology): void {
  describe("the package registry", () => {
    it("offers registered packages by name and version; Downloading (with progress), Installing, Installed and InstallFailed show in GetAgent and settle the audit", async () => {
      const t = topology();
      const name = `collector-${hex(uuidv7Bytes()).slice(-8)}`;
      const sha256 = new Uint8Array(createHash("sha256").update("collector 0.121.0 bits").digest());
      const signature = new TextEncoder().encode("-----BEGIN PGP SIGNATURE-----\n...");
      const definition = { name, version: "0.121.0", type: PackageType.PackageType_TopLevel, downloadUrl: `https://pkgs.example/${name}-0.121.0.tgz`, sha256, signature };
      const registered = await t.packages.registerPackage({ ...definition, requestedBy: "e2e" });
      expect(registered.created).toBe(true);
      expect(registered.package?.hash).toHaveLength(32);
      expect(registered.package?.registeredBy).toBe(t.adminIdentity);
      // The same definition again is a no-op; a different one under the same version is refused.
      expect((await t.packages.registerPackage(definition)).created).toBe(false);
      await expect(t.packages.registerPackage({ ...definition, downloadUrl: "https://elsewhere.example/x.tgz" })).rejects.toMatchObject({ code: 6 }); // AlreadyExists
      await expect(t.packages.registerPackage({ ...definition, version: "bad", sha256: new Uint8Array(5) })).rejects.toMatchObject({ code: 3 }); // InvalidArgument
      expect((await t.packages.getPackage({ name, version: "0.121.0" })).package?.downloadUrl).toBe(definition.downloadUrl);

      const caps = CAPS | BigInt(AgentCapabilities.AgentCapabilities_AcceptsPackages | AgentCapabilities.AgentCapabilities_ReportsPackageStatuses);
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: caps, agentDescription: description("registry") as never });
      await eventually(() => agent.received[0]);
      const uid = hex(agent.uid);
      await expect(t.packages.offerPackages({ instanceUid: uid, packages: [{ name, version: "9.9.9" }] })).rejects.toMatchObject({ code: 5 }); // NotFound

      const offered = await t.packages.offerPackages({ instanceUid: uid, packages: [{ name, version: "0.121.0" }], requestedBy: "e2e" });
      expect(offered.pushed).toBe(true);
      const available = await eventually(() => agent.received.find((m) => m.packagesAvailable)?.packagesAvailable);
      const pkg = available.packages[name]!;
      expect(pkg.file?.downloadUrl).toBe(definition.downloadUrl);
      expect(hex(pkg.file!.contentHash)).toBe(hex(sha256));
      expect(Buffer.from(pkg.file!.signature).equals(Buffer.from(signature))).toBe(true);
      expect(hex(pkg.hash)).toBe(hex(registered.package!.hash));
      expect(hex(available.allPackagesHash)).toBe(hex(offered.agent!.spec!.packagesAvailable!.allPackagesHash));

      const report = (allPackagesHash: Uint8Array, offer: { version: string; hash: Uint8Array }, status: PackageStatusEnum, extra: { errorMessage?: string; downloadPercent?: number } = {}) =>
        agent.send({
          capabilities: caps,
          packageStatuses: {
            $typeName: "opamp.proto.v1.PackageStatuses",
            serverProvidedAllPackagesHash: allPackagesHash,
            errorMessage: "",
            packages: {
              [name]: create(PackageStatusSchema, {
                name,
                serverOfferedVersion: offer.version,
                serverOfferedHash: offer.hash,
                status,
                errorMessage: extra.errorMessage ?? "",
                ...(status === PackageStatusEnum.PackageStatusEnum_Installed ? { agentHasVersion: offer.version, agentHasHash: offer.hash } : {}),
                ...(extra.downloadPercent !== undefined ? { downloadDetails: { downloadPercent: extra.downloadPercent, downloadBytesPerSecond: 250_000 } } : {}),
              }),
            },
          },
        });
      const statusInApi = (status: PackageStatusEnum) =>
        eventually(async () => {
          const s = (await t.agents.getAgent({ instanceUid: uid })).agent?.status?.packageStatuses?.packages[name];
          return s?.status === status ? s : undefined;
        }, 10_000, `GetAgent shows ${PackageStatusEnum[status]}`);
      const auditOf = async (commandId: string) => (await t.commands.listCommands({ instanceUid: uid })).commands.find((c) => c.id === commandId);

      report(available.allPackagesHash, { version: "0.121.0", hash: pkg.hash }, PackageStatusEnum.PackageStatusEnum_Downloading, { downloadPercent: 40 });
      expect((await statusInApi(PackageStatusEnum.PackageStatusEnum_Downloading)).downloadDetails?.downloadPercent).toBe(40);
      report(available.allPackagesHash, { version: "0.121.0", hash: pkg.hash }, PackageStatusEnum.PackageStatusEnum_Downloading, { downloadPercent: 100 });
      expect((await eventually(async () => {
        const s = (await t.agents.getAgent({ instanceUid: uid })).agent?.status?.packageStatuses?.packages[name];
        return s?.downloadDetails?.downloadPercent === 100 ? s : undefined;
      }, 10_000, "download progress 100%")).status).toBe(PackageStatusEnum.PackageStatusEnum_Downloading);
      report(available.allPackagesHash, { version: "0.121.0", hash: pkg.hash }, PackageStatusEnum.PackageStatusEnum_Installing);
      await statusInApi(PackageStatusEnum.PackageStatusEnum_Installing);
      expect((await auditOf(offered.commandId))?.state).toBe(CommandState.DELIVERED); // not done while installing
      report(available.allPackagesHash, { version: "0.121.0", hash: pkg.hash }, PackageStatusEnum.PackageStatusEnum_Installed);
      expect((await statusInApi(PackageStatusEnum.PackageStatusEnum_Installed)).agentHasVersion).toBe("0.121.0");
      const applied = await eventually(async () => ((await auditOf(offered.commandId))?.state === CommandState.APPLIED ? auditOf(offered.commandId) : undefined), 10_000, "offer APPLIED in the audit");
      expect(applied?.kind).toBe("packages");
      expect(applied?.requestedBy).toBe(t.adminIdentity);

      // A newer version that fails to install.
      await t.packages.registerPackage({ ...definition, version: "0.122.0", downloadUrl: `https://pkgs.example/${name}-0.122.0.tgz` });
      const upgrade = await t.packages.offerPackages({ instanceUid: uid, packages: [{ name, version: "0.122.0" }], requestedBy: "e2e" });
      const next = await eventually(() => agent.received.find((m) => m.packagesAvailable?.packages[name]?.version === "0.122.0")?.packagesAvailable);
      report(next.allPackagesHash, { version: "0.122.0", hash: next.packages[name]!.hash }, PackageStatusEnum.PackageStatusEnum_InstallFailed, { errorMessage: "checksum mismatch" });
      expect((await statusInApi(PackageStatusEnum.PackageStatusEnum_InstallFailed)).errorMessage).toBe("checksum mismatch");
      const failed = await eventually(async () => ((await auditOf(upgrade.commandId))?.state === CommandState.FAILED ? auditOf(upgrade.commandId) : undefined), 10_000, "offer FAILED in the audit");
      expect(failed?.detail).toBe(`${name}: checksum mismatch`);

      // The registry lists versions in order; a deleted version is gone (offers already made keep their copy).
      expect((await t.packages.listPackages({ name })).packages.map((p) => p.version)).toEqual(["0.121.0", "0.122.0"]);
      await t.packages.deletePackage({ name, version: "0.122.0" });
      await expect(t.packages.getPackage({ name, version: "0.122.0" })).rejects.toMatchObject({ code: 5 });
      await expect(t.packages.deletePackage({ name, version: "0.122.0" })).rejects.toMatchObject({ code: 5 });
      expect((await t.packages.listPackages({ name })).packages.map((p) => p.version)).toEqual(["0.121.0"]);
      await agent.close();
    });
  });
}
