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
  const key = (name: string, version: string) => `${name}@${version}`;
  const packages: PackageRepository = {
    async insertIfAbsent(pkg) {
      const found = stored.get(key(pkg.name, pkg.version));
      if (found) return { stored: found, created: false };
      stored.set(key(pkg.name, pkg.version), pkg);
      return { stored: pkg, created: true };
    },
    async get(k) {
      return stored.get(key(k.name, k.version));
    },
    async list() {
      return [...stored.values()];
    },
    async delete(k) {
      return stored.delete(key(k.name, k.version));
    },
  };
  const offered: Array<{ uid: string; packages: Record<string, PackageAvailable> }> = [];
  const registry = new PackageRegistry({
    packages,
    now: () => 1_000,
    offers: {
      async setPackagesAvailable(uid, pkgs) {
        offered.push({ uid, packages: pkgs });
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
    await registry.delete({ name: "otelcol", version: "1.0.0" });
    await expect(registry.delete({ name: "otelcol", version: "1.0.0" })).rejects.toBeInstanceOf(PackageNotFoundError);
  });
});
