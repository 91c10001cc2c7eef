import { createContextValues } from "@connectrpc/connect";
import { IDENTITY } from "@fleetplane/access";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { AgentCommandSchema } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CertificateRequestSchema, CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import {
  createLmdbCertificateRequestRepository,
  createCertificateServiceImpl,
  type CertificateRequestRepository,
  CertificateDesk,
  CertificateRequestUsecase,
  type CertificateOffers,
  type CertificateSigner,
  type IssuedCertificate,
} from "@fleetplane/agent-service";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { silentLogger } from "@fleetplane/platform";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const UID = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6b";
const REQUEST = "0193a5b2c3d47000800000000000abcd";

/**
 * A signer whose issue() waits until `parties` calls have arrived, so every
 * replica has read the request as PENDING (and signed) before any of them
 * records its decision: the race the per-process mutex cannot see.
 */
function rendezvousSigner(parties: number): CertificateSigner & { issued: IssuedCertificate[] } {
  const issued: IssuedCertificate[] = [];
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return {
    issued,
    async inspect() {
      return { subject: "CN=test", commonNames: [], uris: [], signatureValid: true };
    },
    async issue(_csr, _uid, now) {
      const cert = { certificatePem: `cert ${issued.length}`, caCertificatePem: "ca", serialNumber: `0${issued.length + 1}`, notAfter: now + 86_400_000 };
      issued.push(cert);
      if (++arrived >= parties) release();
      await all;
      return cert;
    },
  };
}

/** One agent-service replica: its own desk (and mutex), usecase and Connect face, over the shared repository. */
function replica(requests: CertificateRequestRepository, signer: CertificateSigner) {
  const offers: IssuedCertificate[] = [];
  const refusals: string[] = [];
  let commands = 0;
  const agents: CertificateOffers = {
    async offerCertificate(_uid, issued) {
      offers.push(issued);
      return { command: create(AgentCommandSchema, { id: `offer-${++commands}` }), pushed: true };
    },
    async refuseCertificateRequest(_uid, reason) {
      refusals.push(reason);
      return { command: create(AgentCommandSchema, { id: `refusal-${++commands}` }), pushed: true };
    },
  };
  const desk = new CertificateDesk({ requests, signer, approval: "manual", opampEndpoint: () => "ws://127.0.0.1:4320/v1/opamp", logger: silentLogger() });
  const service = createCertificateServiceImpl(new CertificateRequestUsecase(desk, agents), silentLogger());
  return {
    offers,
    refusals,
    // The decider is the caller the admin interceptor established, as it would be on the admin API.
    approve: (approvedBy: string) => service.approveCertificateRequest({ id: REQUEST } as never, callerContext(approvedBy)),
    deny: (deniedBy: string) => service.denyCertificateRequest({ id: REQUEST, reason: "unknown host" } as never, callerContext(deniedBy)),
  };
}

/** A handler context whose caller is `name`, as the admin interceptor leaves it. */
function callerContext(name: string): never {
  return { values: createContextValues().set(IDENTITY, { name, bindings: [] }) } as never;
}

describe("deciding a certificate request on two agent-service replicas at once", () => {
  let close: () => void;
  let requests: CertificateRequestRepository;
  beforeEach(async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetplane-csr-replicas-"));
    const store = openEmbeddedStore(dir);
    close = () => {
      void store.close();
      rmSync(dir, { recursive: true, force: true });
    };
    requests = createLmdbCertificateRequestRepository(store);
    await requests.save(
      create(CertificateRequestSchema, {
        id: REQUEST,
        instanceUid: UID,
        csr: new TextEncoder().encode("-----BEGIN CERTIFICATE REQUEST-----\n"),
        state: CertificateRequestState.PENDING,
        createdAt: timestampFromMs(Date.now()),
      }),
    );
  });
  afterEach(() => close());

  it("approves once: one approval, one FailedPrecondition, one certificate offered and stored", async () => {
    const signer = rendezvousSigner(2);
    const [a, b] = [replica(requests, signer), replica(requests, signer)];
    const results = await Promise.allSettled([a.approve("alice"), b.approve("bob")]);

    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(ConnectError);
    expect((lost[0]!.reason as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((lost[0]!.reason as ConnectError).rawMessage).toMatch(/cannot be approved: it is APPROVED, not PENDING/);

    expect(signer.issued).toHaveLength(2); // both signed; the loser's certificate went nowhere
    const offered = [...a.offers, ...b.offers];
    expect(offered).toHaveLength(1);
    const stored = await requests.get(REQUEST);
    expect(stored?.state).toBe(CertificateRequestState.APPROVED);
    expect(stored?.serialNumber).toBe(offered[0]!.serialNumber);
    expect(new TextDecoder().decode(stored?.certificate)).toBe(offered[0]!.certificatePem);
    expect(stored?.decidedBy).toBe(a.offers.length === 1 ? "alice" : "bob");
    expect(stored?.commandId).toBe("offer-1");
  });

  it("lets an approval and a denial racing on two replicas decide once: the agent hears one answer", async () => {
    const signer = rendezvousSigner(1);
    const [a, b] = [replica(requests, signer), replica(requests, signer)];
    const results = await Promise.allSettled([a.approve("alice"), b.deny("bob")]);

    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
    expect((lost.reason as ConnectError).code).toBe(Code.FailedPrecondition);
    const stored = await requests.get(REQUEST);
    expect(a.offers.length + b.refusals.length).toBe(1);
    expect(stored?.state).toBe(a.offers.length === 1 ? CertificateRequestState.APPROVED : CertificateRequestState.DENIED);
  });
});
