import { ServerErrorResponseType, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { retryAfterHeaderFromNanoseconds } from "@fleetplane/opamp";

/** The status line and headers of a plain-HTTP reply carrying a ServerToAgent. */
export interface HttpReplyStatus {
  status: number;
  headers: Record<string, string>;
}

/**
 * The HTTP status of a plain-HTTP reply that carries a ServerToAgent: 200,
 * also for an error_response, except UNAVAILABLE, which is 503 with
 * Retry-After from its RetryInfo.
 *
 * Why 200 for BAD_REQUEST and UNKNOWN: the specification's "Bad Request"
 * section asks for a ServerToAgent with error_response (type BAD_REQUEST), not
 * for an HTTP status, and the only statuses it names for plain HTTP are 413
 * ("Plain HTTP Message Size Limits": a body over the limit), 401
 * ("Authentication") and 503 or 429 with Retry-After ("Throttling › Plain
 * HTTP Transport": the server is overloaded). Clients read the body of a 200
 * only — opamp-go's HTTP client discards any other (client/internal/httpsender.go)
 * — so an error_response under a 400 never reached the agent.
 *
 * Why 503 for UNAVAILABLE: "Throttling › Plain HTTP Transport" lets the server
 * answer an overloaded moment with 503 and Retry-After "to indicate when SHOULD
 * the Client attempt to reconnect", which opamp-go honours; the body still
 * carries the error_response for clients that read it.
 */
export function httpReplyStatus(reply: ServerToAgent): HttpReplyStatus {
  const error = reply.errorResponse;
  if (error?.type !== ServerErrorResponseType.ServerErrorResponseType_Unavailable) return { status: 200, headers: {} };
  const retryAfterNs = error.Details.case === "retryInfo" ? error.Details.value.retryAfterNanoseconds : undefined;
  return { status: 503, headers: retryAfterNs === undefined ? {} : { "retry-after": retryAfterHeaderFromNanoseconds(retryAfterNs) } };
}
