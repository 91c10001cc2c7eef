/**
 * Typed errors of the fleet resources (namespaces, configurations, groups).
 * Each names the field or resource at fault; api/connect-errors.ts maps them
 * onto Connect codes.
 */

/** A resource that does not exist (NotFound). */
export class FleetResourceNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FleetResourceNotFoundError";
  }
}

/** A create whose name is taken (AlreadyExists). */
export class FleetResourceExistsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FleetResourceExistsError";
  }
}

/** A well-formed request the current state refuses, e.g. deleting what is in use (FailedPrecondition). */
export class FleetResourceInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FleetResourceInUseError";
  }
}
