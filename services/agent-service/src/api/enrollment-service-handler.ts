import type { ServiceImpl } from "@connectrpc/connect";
import { EnrollmentService } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";
import type { Logger } from "@fleetplane/platform";
import type { EnrollmentTokens } from "../enrollment/enrollment-tokens.js";
import { guarded } from "./connect-errors.js";
import { requesterOf } from "./requested-by.js";

/** The Connect face of enrollment tokens (administer); the secret is in CreateEnrollmentToken's answer only. */
export function createEnrollmentServiceImpl(tokens: EnrollmentTokens, logger: Logger): ServiceImpl<typeof EnrollmentService> {
  const guard = guarded(logger);
  return {
    createEnrollmentToken: (req, ctx) =>
      guard("CreateEnrollmentToken", () =>
        tokens.create({ namespace: req.namespace, labels: req.labels, ttlSeconds: req.ttlSeconds, maxUses: req.maxUses, description: req.description }, requesterOf(ctx)),
      ),
    listEnrollmentTokens: (req) => guard("ListEnrollmentTokens", async () => ({ tokens: await tokens.list(req.namespace) })),
    revokeEnrollmentToken: (req, ctx) => guard("RevokeEnrollmentToken", async () => ({ token: await tokens.revoke(req.id, requesterOf(ctx)) })),
  };
}
