import type { PackageKey } from "./package-repository.js";

export class PackageNotFoundError extends Error {
  constructor(readonly key: PackageKey) {
    super(`package "${key.name}" version "${key.version}" is not registered; register it first (PackageService.RegisterPackage) or list what is (ListPackages)`);
    this.name = "PackageNotFoundError";
  }
}

/** A different definition is registered under the same name and version. */
export class PackageConflictError extends Error {
  constructor(readonly key: PackageKey) {
    super(
      `package "${key.name}" version "${key.version}" is already registered with a different definition; versions are immutable: register a new version, or delete this one first`,
    );
    this.name = "PackageConflictError";
  }
}
