import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { CertificateRequestSchema, CertificateRequestState, type CertificateRequest } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { bytesOfBinary, guardMongo, upsertWithRetry } from "@fleetplane/platform/mongo-store";
import { Binary, type Db, type Filter } from "mongodb";
import type { CertificateRequestRepository } from "../domain/certificate-request-repository.js";

/** One document per request; the fields listings filter on are copied out of the protobuf blob. */
interface CertificateRequestDocument {
  _id: string; // UUIDv7 hex: sorting by _id sorts by arrival
  instanceUid: string;
  state: number; // CertificateRequestState
  proto: Binary;
}

const CERTIFICATE_REQUESTS = "certificate_requests";

/** Creates the indexes listings rely on (one per call: FerretDB 1.x, see ensureAgentIndexes). */
export async function ensureCertificateRequestIndexes(db: Db): Promise<void> {
  await guardMongo(async () => {
    const requests = db.collection(CERTIFICATE_REQUESTS);
    await requests.createIndex({ instanceUid: 1, _id: -1 }); // one agent's requests
    await requests.createIndex({ state: 1, _id: -1 }); // e.g. every PENDING request
  });
}

/** Certificate signing requests in MongoDB, newest first like the embedded store. */
export function createMongoCertificateRequestRepository(db: Db): CertificateRequestRepository {
  const requests = db.collection<CertificateRequestDocument>(CERTIFICATE_REQUESTS);
  const decode = (doc: CertificateRequestDocument): CertificateRequest => fromBinary(CertificateRequestSchema, bytesOfBinary(doc.proto));

  return {
    async save(request) {
      const doc = { instanceUid: request.instanceUid, state: request.state, proto: new Binary(toBinary(CertificateRequestSchema, request)) };
      await guardMongo(() => upsertWithRetry(() => requests.replaceOne({ _id: request.id }, doc, { upsert: true })));
    },
    async decide(decided) {
      // A single-document update filtered on the state is atomic: of two
      // replicas deciding at once, only one matches the PENDING document.
      const update = { $set: { state: decided.state, proto: new Binary(toBinary(CertificateRequestSchema, decided)) } };
      const result = await guardMongo(() => requests.updateOne({ _id: decided.id, state: CertificateRequestState.PENDING }, update));
      return result.matchedCount === 1;
    },
    async get(id) {
      const doc = await guardMongo(() => requests.findOne({ _id: id }));
      return doc ? decode(doc) : undefined;
    },
    async list({ instanceUid, state, limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<CertificateRequestDocument> = {};
      if (instanceUid) filter.instanceUid = instanceUid;
      if (state !== undefined && state !== CertificateRequestState.UNSPECIFIED) filter.state = state;
      if (after) filter._id = { $lt: after };
      const docs = await guardMongo(() => requests.find(filter).sort({ _id: -1 }).limit(limit).toArray());
      return docs.map(decode);
    },
  };
}
