import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CertificateRequestSchema,
  CertificateRequestState,
  type CertificateRequest,
} from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import type { CertificateRequestRepository } from "@fleetplane/agent-service";
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

export interface CertificateRequestStoreUnderTest {
  requests: CertificateRequestRepository;
  close(): Promise<void>;
}

/**
 * The behaviour every store of certificate signing requests must share.
 * `open` must return an empty repository; it is called before every test.
 */
export function certificateRequestRepositoryContract(name: string, open: () => Promise<CertificateRequestStoreUnderTest>): void {
  describe(`${name}: certificate requests`, () => {
    let store: CertificateRequestStoreUnderTest;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store?.close();
    });

    it("returns a saved request with every field intact, and its decision when saved again", async () => {
      const request = requestFor(agentUid(), 0);
      await store.requests.save(request);
      expect(await store.requests.get(request.id)).toEqual(request);
      expect(await store.requests.get(requestId(99))).toBeUndefined();

      request.state = CertificateRequestState.APPROVED;
      request.certificate = new TextEncoder().encode("-----BEGIN CERTIFICATE-----\n…");
      request.serialNumber = "7f01";
      request.notAfter = timestampFromMs(BASE_MS + 86_400_000);
      request.decidedBy = "alice";
      await store.requests.save(request);
      expect(await store.requests.get(request.id)).toEqual(request);
      expect(await store.requests.list({ namespace: NS, limit: 10 })).toEqual([request]);
    });

    it("decides a PENDING request once: of two concurrent decisions exactly one wins, and the loser writes nothing", async () => {
      const pending = requestFor(agentUid(), 10);
      await store.requests.save(pending);
      const approved = decided(pending, CertificateRequestState.APPROVED, "alice");
      approved.certificate = new TextEncoder().encode("-----BEGIN CERTIFICATE-----\nalice\n");
      approved.serialNumber = "0a11ce";
      const denied = decided(pending, CertificateRequestState.DENIED, "bob");
      denied.reason = "unknown host";

      const outcomes = await Promise.all([store.requests.decide(approved), store.requests.decide(denied)]);
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const winner = outcomes[0] ? approved : denied;
      expect(await store.requests.get(pending.id)).toEqual(winner);

      // Decided already: a third decision (even the same one) loses and changes nothing.
      expect(await store.requests.decide(decided(pending, CertificateRequestState.APPROVED, "carol"))).toBe(false);
      expect(await store.requests.get(pending.id)).toEqual(winner);
      expect(await store.requests.list({ namespace: NS, state: CertificateRequestState.PENDING, limit: 10 })).toEqual([]);
      // An unknown request is not created by a decision.
      const unknown = requestFor(agentUid(), 11);
      expect(await store.requests.decide(decided(unknown, CertificateRequestState.DENIED, "bob"))).toBe(false);
      expect(await store.requests.get(unknown.id)).toBeUndefined();
    });

    it("lets exactly one of two concurrent decisions win for each of many requests decided at once", async () => {
      const uid = agentUid();
      const pending = [20, 21, 22, 23, 24, 25, 26, 27, 28, 29].map((i) => requestFor(uid, i));
      for (const r of pending) await store.requests.save(r);
      const races = pending.map((r) => [decided(r, CertificateRequestState.APPROVED, "alice"), decided(r, CertificateRequestState.DENIED, "bob")] as const);
      const outcomes = await Promise.all(races.map(([a, b]) => Promise.all([store.requests.decide(a), store.requests.decide(b)])));
      for (const [i, [a, b]] of races.entries()) {
        expect(outcomes[i]!.filter(Boolean)).toHaveLength(1);
        expect(await store.requests.get(a.id)).toEqual(outcomes[i]![0] ? a : b);
      }
    });

    it("lists newest first, per agent and per state, in pages", async () => {
      const [a, b] = [agentUid(), agentUid()];
      const all = [0, 1, 2, 3, 4, 5].map((i) => requestFor(i % 2 === 0 ? a : b, i));
      all[2]!.state = CertificateRequestState.REFUSED;
      all[5]!.state = CertificateRequestState.REFUSED;
      for (const r of [...all].reverse()) await store.requests.save(r); // saved out of order

      expect(ids(await store.requests.list({ namespace: NS, limit: 10 }))).toEqual([5, 4, 3, 2, 1, 0].map(requestId));
      expect(ids(await store.requests.list({ namespace: NS, instanceUid: a, limit: 10 }))).toEqual([4, 2, 0].map(requestId));
      expect(ids(await store.requests.list({ namespace: NS, state: CertificateRequestState.REFUSED, limit: 10 }))).toEqual([5, 2].map(requestId));
      expect(ids(await store.requests.list({ namespace: NS, instanceUid: a, state: CertificateRequestState.PENDING, limit: 10 }))).toEqual([4, 0].map(requestId));
      expect(ids(await store.requests.list({ namespace: NS, state: CertificateRequestState.UNSPECIFIED, limit: 2 }))).toEqual([5, 4].map(requestId));

      expect(ids(await store.requests.list({ namespace: NS, limit: 2, after: requestId(4) }))).toEqual([3, 2].map(requestId));
      expect(ids(await store.requests.list({ namespace: NS, instanceUid: b, limit: 1, after: requestId(5) }))).toEqual([requestId(3)]);
      expect(await store.requests.list({ namespace: NS, instanceUid: agentUid(), limit: 10 })).toEqual([]);
      expect(await store.requests.list({ namespace: NS, limit: 0 })).toEqual([]);
    });

    it("lists one namespace's requests only, the other namespace's by agent and state alike", async () => {
      const uid = agentUid();
      const mine = requestFor(uid, 40, "team-a");
      const theirs = requestFor(uid, 41, "team-b");
      const prefix = requestFor(uid, 42, "team");
      for (const r of [mine, theirs, prefix]) await store.requests.save(r);
      expect(await store.requests.list({ namespace: "team-a", limit: 10 })).toEqual([mine]);
      expect(await store.requests.list({ namespace: "team-b", instanceUid: uid, state: CertificateRequestState.PENDING, limit: 10 })).toEqual([theirs]);
      expect(await store.requests.list({ namespace: "team", instanceUid: uid, limit: 10 })).toEqual([prefix]);
      expect(await store.requests.list({ namespace: NS, limit: 10 })).toEqual([]);
      expect(await store.requests.get(theirs.id)).toEqual(theirs);
    });
  });
}

const BASE_MS = 1_767_225_600_000;
const run = randomBytes(2).toString("hex");

/** UUIDv7-shaped ids one millisecond apart (id order is arrival order), the same for the same sequence. */
function requestId(sequence: number): string {
  return `${(BASE_MS + sequence).toString(16).padStart(12, "0")}7000${run}${"8".padEnd(12, "0")}`;
}

function agentUid(): string {
  return randomBytes(16).toString("hex");
}

function ids(requests: CertificateRequest[]): string[] {
  return requests.map((r) => r.id);
}

function decided(request: CertificateRequest, state: CertificateRequestState, by: string): CertificateRequest {
  return create(CertificateRequestSchema, { ...request, state, decidedBy: by, decidedAt: timestampFromMs(BASE_MS + 60_000) });
}

const NS = "default";

function requestFor(instanceUid: string, sequence: number, namespace = NS): CertificateRequest {
  return create(CertificateRequestSchema, {
    id: requestId(sequence),
    instanceUid,
    namespace,
    csr: new TextEncoder().encode(`-----BEGIN CERTIFICATE REQUEST-----\n${sequence}\n-----END CERTIFICATE REQUEST-----\n`),
    state: CertificateRequestState.PENDING,
    subject: `CN=agent ${sequence}`,
    createdAt: timestampFromMs(BASE_MS + sequence),
  });
}
