import type { ServiceImpl } from "@connectrpc/connect";
import { CertificateService } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { type Logger, fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import { canonicalUid } from "./canonical-uid.js";
import { guarded } from "./connect-errors.js";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { CertificateRequestUsecase } from "../certificates/certificate-requests.js";
import { requesterOf } from "./requested-by.js";
import { requestNamespace } from "../fleet/resource-names.js";

const REQUEST_ID = /^[0-9a-f]{32}$/;

function requestId(id: string): string {
  const canonical = id.replaceAll("-", "").toLowerCase();
  if (!REQUEST_ID.test(canonical)) throw new InvalidRequestError(`certificate request id must be 32 hex digits (as ListCertificateRequests shows it), got "${id}"`);
  return canonical;
}

/** The Connect face of certificate signing requests (manual approval and review). */
export function createCertificateServiceImpl(requests: CertificateRequestUsecase, logger: Logger): ServiceImpl<typeof CertificateService> {
  const guard = guarded(logger);
  return {
    listCertificateRequests: (req) =>
      guard("ListCertificateRequests", async () => {
        const limit = pageLimit(req.pageSize);
        const found = await requests.list({
          namespace: requestNamespace(req.namespace),
          limit: fetchLimit(limit),
          ...(req.instanceUid ? { instanceUid: canonicalUid(req.instanceUid) } : {}),
          state: req.state,
          ...(req.pageToken ? { after: requestId(req.pageToken) } : {}),
        });
        const { page, nextPageToken } = toPage(found, limit, (last) => last.id);
        return { requests: page, nextPageToken };
      }),
    approveCertificateRequest: (req, ctx) =>
      guard("ApproveCertificateRequest", async () => requests.approve(requestId(req.id), requesterOf(ctx), requestNamespace(req.namespace))),
    denyCertificateRequest: (req, ctx) =>
      guard("DenyCertificateRequest", async () => requests.deny(requestId(req.id), req.reason, requesterOf(ctx), requestNamespace(req.namespace))),
    revokeCertificate: (req, ctx) =>
      guard("RevokeCertificate", async () => ({ request: await requests.revoke(requestId(req.id), req.reason, requesterOf(ctx), requestNamespace(req.namespace)) })),
  };
}
