import { Code, ConnectError } from "@connectrpc/connect";
import { toConnectError } from "@fleetplane/platform-node";
import { InvalidInstanceUidError, agentLogName, type Logger } from "@fleetplane/platform";
import { AgentCannotError, AgentConnectedError, AgentNotFoundError, InvalidRequestError } from "../agents/agent-errors.js";
import { CertificateRequestNotFoundError, CertificateRequestStateError } from "../certificates/certificate-desk.js";
import { PackageConflictError, PackageNotFoundError } from "../packages/package-errors.js";
import { FleetResourceExistsError, FleetResourceInUseError, FleetResourceNotFoundError } from "../fleet/fleet-errors.js";
import { ConfigurationVersionConflictError } from "../fleet/configuration-repository.js";
import { AgentCredentialRefusedError, EnrollmentTokenNotFoundError } from "../enrollment/enrollment-errors.js";

/**
 * Maps agent-service's domain errors onto Connect codes; anything unexpected
 * is logged and hidden. `agent`: the instance UID the request is about, so
 * the log line names it.
 */
export function fail(err: unknown, logger: Logger, what: string, agent?: string | Uint8Array): never {
  if (err instanceof AgentNotFoundError || err instanceof PackageNotFoundError || err instanceof CertificateRequestNotFoundError) throw new ConnectError(err.message, Code.NotFound);
  if (err instanceof InvalidRequestError || err instanceof InvalidInstanceUidError) throw new ConnectError(err.message, Code.InvalidArgument);
  if (err instanceof AgentCannotError || err instanceof AgentConnectedError || err instanceof CertificateRequestStateError) throw new ConnectError(err.message, Code.FailedPrecondition);
  if (err instanceof PackageConflictError || err instanceof FleetResourceExistsError) throw new ConnectError(err.message, Code.AlreadyExists);
  if (err instanceof EnrollmentTokenNotFoundError) throw new ConnectError(err.message, Code.NotFound);
  if (err instanceof AgentCredentialRefusedError) throw new ConnectError(err.message, Code.Unauthenticated);
  if (err instanceof FleetResourceNotFoundError) throw new ConnectError(err.message, Code.NotFound);
  if (err instanceof FleetResourceInUseError) throw new ConnectError(err.message, Code.FailedPrecondition);
  if (err instanceof ConfigurationVersionConflictError) throw new ConnectError(err.message, Code.Aborted);
  throw toConnectError(err, logger, what, agent === undefined ? {} : { agent: agentLogName(agent) });
}

/** The ConnectError a handler would have failed with. */
export function asConnectError(err: unknown, logger: Logger, what: string, agent?: string | Uint8Array): ConnectError {
  try {
    return fail(err, logger, what, agent);
  } catch (ce) {
    return ce as ConnectError;
  }
}

/** Runs a handler body, turning any error into the right ConnectError; `agent` as in fail(). */
export function guarded(logger: Logger) {
  return async <T>(what: string, body: () => Promise<T>, agent?: string | Uint8Array): Promise<T> => {
    try {
      return await body();
    } catch (err) {
      return fail(err, logger, what, agent);
    }
  };
}
