import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AgentSchema, AgentCommandSchema } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { PackageType, type PackageAvailable } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { computePackageHash } from "../agents/offer-hashes.js";
import { PackageConflictError, PackageNotFoundError } from "./package-errors.js";
import { PackageRegistry, toPackageAvailable, type PackageDefinition } from "./package-registry.js";
import type { PackageRepository } from "./package-repository.js";

/** The registry's rules over a map (the stores have their own contract suite). */
function registryInMemory() {
  const stored = new Map<string, Package>();
  const key = (namespace: string, name: string, version: string) => `${namespace}/${name}@${version}`;
  const packages: PackageRepository = {
    async insertIfAbsent(pkg) {
      const found = stored.get(key(pkg.namespace, pkg.name, pkg.version));
      if (found) return { stored: found, created: false };
      stored.set(key(pkg.namespace, pkg.name, pkg.version), pkg);
      return { stored: pkg, created: true };
    },
    async get(ns, k) {
      return stored.get(key(ns, k.name, k.version));
    },
    async list(ns) {
      return [...stored.values()].filter((p) => p.namespace === ns);
    },
    async delete(ns, k) {
      return stored.delete(key(ns, k.name, k.version));
    },
  };
  const offered: Array<{ uid: string; packages: Record<string, PackageAvailable>; namespace: string | undefined }> = [];
  const namespaces = new Set(["default", "team-a"]);
  const registry = new PackageRegistry({
    packages,
    now: () => 1_000,
    requireNamespace: async (ns) => {
      if (!namespaces.has(ns)) throw new InvalidRequestError(`namespace "${ns}" does not exist`);
    },
    offers: {
      async setPackagesAvailable(uid, pkgs, _by, namespace) {
        offered.push({ uid, packages: pkgs, namespace });
        return { agent: create(AgentSchema), command: create(AgentCommandSchema, { id: "c1" }), pushed: false };
      },
    },
  });
  return { registry, offered };
}

const definition = (version = "1.0.0"): PackageDefinition => ({
  name: "otelcol",
  version,
  type: PackageType.PackageType_TopLevel,
  downloadUrl: `https://pkgs.example/otelcol-${version}.tgz`,
  sha256: new Uint8Array(32).fill(1),
  signature: new Uint8Array([7, 7]),
});

describe("the package registry", () => {
  it("hashes a package as an inline offer of the same package would be hashed", async () => {
    const { registry } = registryInMemory();
    const { pkg, created } = await registry.register(definition(), "alice");
    expect(created).toBe(true);
    const inline = toPackageAvailable(pkg);
    inline.hash = new Uint8Array();
    expect(pkg.hash).toEqual(computePackageHash(inline));
    expect(pkg.registeredBy).toBe("alice");
  });

  it("treats a version as immutable: the same definition again is a no-op, another one a conflict", async () => {
    const { registry } = registryInMemory();
    await registry.register(definition(), "alice");
    expect((await registry.register(definition(), "bob")).created).toBe(false);
    await expect(registry.register({ ...definition(), sha256: new Uint8Array(32).fill(2) }, "bob")).rejects.toBeInstanceOf(PackageConflictError);
    await expect(registry.register({ ...definition(), signature: new Uint8Array() }, "bob")).rejects.toBeInstanceOf(PackageConflictError);
  });

  it("refuses definitions an agent could not use", async () => {
    const { registry } = registryInMemory();
    for (const bad of [
      { ...definition(), name: "" },
      { ...definition(), version: "" },
      { ...definition(), downloadUrl: "ftp://pkgs.example/x" },
      { ...definition(), downloadUrl: "not a url" },
      { ...definition(), sha256: new Uint8Array(20) },
      { ...definition(), type: 7 as PackageType },
    ]) {
      await expect(registry.register(bad, "alice")).rejects.toBeInstanceOf(InvalidRequestError);
    }
  });

  it("offers the registered definitions by reference, and refuses unknown or repeated references", async () => {
    const { registry, offered } = registryInMemory();
    const { pkg } = await registry.register(definition("1.0.0"), "alice");
    await registry.offer("ab".repeat(16), [{ name: "otelcol", version: "1.0.0" }], "alice");
    expect(offered[0]!.packages).toEqual({ otelcol: toPackageAvailable(pkg) });
    expect(offered[0]!.packages.otelcol!.file!.contentHash).toEqual(definition().sha256);

    await expect(registry.offer("ab".repeat(16), [{ name: "otelcol", version: "2.0.0" }], "alice")).rejects.toBeInstanceOf(PackageNotFoundError);
    await expect(registry.offer("ab".repeat(16), [{ name: "otelcol", version: "1.0.0" }, { name: "otelcol", version: "1.0.0" }], "alice")).rejects.toBeInstanceOf(InvalidRequestError);
    expect(offered).toHaveLength(1);
  });

  it("says so when deleting a version that is not registered", async () => {
    const { registry } = registryInMemory();
    await registry.register(definition(), "alice");
    await registry.delete("default", { name: "otelcol", version: "1.0.0" });
    await expect(registry.delete("default", { name: "otelcol", version: "1.0.0" })).rejects.toBeInstanceOf(PackageNotFoundError);
  });

  it("registers into a namespace, and offers an agent of a namespace only that namespace's packages", async () => {
    const { registry, offered } = registryInMemory();
    const { pkg } = await registry.register(definition("1.0.0"), "alice", "team-a");
    expect(pkg.namespace).toBe("team-a");
    await expect(registry.register(definition("1.0.0"), "alice", "nowhere")).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(registry.get("default", { name: "otelcol", version: "1.0.0" })).rejects.toBeInstanceOf(PackageNotFoundError);
    expect(await registry.list("default", { limit: 10 })).toEqual([]);
    await expect(registry.offer("ab".repeat(16), [{ name: "otelcol", version: "1.0.0" }], "alice", "default")).rejects.toBeInstanceOf(PackageNotFoundError);
    await expect(registry.delete("default", { name: "otelcol", version: "1.0.0" })).rejects.toBeInstanceOf(PackageNotFoundError);
    await registry.offer("ab".repeat(16), [{ name: "otelcol", version: "1.0.0" }], "alice", "team-a");
    expect(offered).toEqual([{ uid: "ab".repeat(16), packages: { otelcol: toPackageAvailable(pkg) }, namespace: "team-a" }]);
  });
});
