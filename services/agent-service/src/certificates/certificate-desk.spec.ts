import type { CertificateRequest } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import type { Logger } from "@fleetplane/platform";
import { describe, expect, it } from "vitest";
import type { CertificateRequestRepository } from "./certificate-request-repository.js";
import { CertificateDesk } from "./certificate-desk.js";

describe("CertificateDesk", () => {
  it("keeps every refused request on record and logs a few refusals per 10 s, with the count of those left out", async () => {
    const saved: CertificateRequest[] = [];
    const lines: Array<Record<string, unknown>> = [];
    let now = 1_000_000;
    const logger = { warn: (fields: Record<string, unknown>) => void lines.push(fields), info: () => {}, debug: () => {}, error: () => {} } as unknown as Logger;
    const requests = { save: async (r: CertificateRequest) => void saved.push(r) } as unknown as CertificateRequestRepository;
    // No signer: a server without a CA refuses every CSR, whoever sends it.
    const desk = new CertificateDesk({ requests, approval: "auto", opampEndpoint: () => "wss://opamp.example/v1/opamp", logger, now: () => now });
    const uid = "0".repeat(31) + "1";
    for (let i = 0; i < 200; i++) expect((await desk.receive(uid, new Uint8Array([1]), { acceptsOpampSettings: true })).kind).toBe("refused");
    expect(saved).toHaveLength(200);
    expect(lines).toHaveLength(5);
    // The next window's first line says how many were left out.
    now += 10_001;
    await desk.receive(uid, new Uint8Array([1]), { acceptsOpampSettings: true });
    expect(lines).toHaveLength(6);
    expect(lines[5]).toMatchObject({ suppressed: 195, reason: expect.stringContaining("--csr-ca-cert") });
  });
});
