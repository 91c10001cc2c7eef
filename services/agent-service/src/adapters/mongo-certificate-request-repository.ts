import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { CertificateRequestSchema, CertificateRequestState, type CertificateRequest } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { bytesOfBinary, guardMongo, isDuplicateKey, upsertWithRetry } from "@fleetplane/platform-node/mongo";
import { Binary, type Db, type Filter } from "mongodb";
import type { CertificateRequestRepository } from "../certificates/certificate-request-repository.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";

/** One document per request; the fields listings filter on are copied out of the protobuf blob. */
interface CertificateRequestDocument {
  _id: string; // UUIDv7 hex: sorting by _id sorts by arrival
  /** The sender's namespace (set to "default" on requests stored before namespaces, see ensureCertificateRequestIndexes). */
  namespace: string;
  instanceUid: string;
  state: number; // CertificateRequestState
  proto: Binary;
}

/**
 * The claim on a request's decision, one per decided request. A filtered
 * updateOne is not enough on FerretDB 1.x: two updates of one document
 * filtered on state PENDING can both match (its update reads, then writes).
 * Inserting a claim under the request's id is decided by the unique _id on
 * MongoDB and FerretDB alike; the claim keeps the decision so it can be
 * copied onto the request if the winner stopped before writing it.
 */
interface DecisionDocument {
  _id: string; // the request's id
  state: number;
  proto: Binary;
}

const CERTIFICATE_REQUESTS = "certificate_requests";
const CERTIFICATE_REQUEST_DECISIONS = "certificate_request_decisions";

/**
 * Creates the indexes listings rely on (one per call: FerretDB 1.x, see
 * ensureAgentIndexes), and files requests stored before namespaces under
 * "default" (their blob keeps an empty namespace, read as "default").
 * Run at every start; repeating it changes nothing.
 */
export async function ensureCertificateRequestIndexes(db: Db): Promise<void> {
  await guardMongo(async () => {
    const requests = db.collection(CERTIFICATE_REQUESTS);
    await requests.updateMany({ namespace: { $exists: false } }, { $set: { namespace: DEFAULT_NAMESPACE } });
    await requests.createIndex({ namespace: 1, instanceUid: 1, _id: -1 }); // one agent's requests
    await requests.createIndex({ namespace: 1, state: 1, _id: -1 }); // e.g. every PENDING request
    await requests.createIndex({ instanceUid: 1, state: 1 }); // an agent's revoked certificates, namespace unknown
  });
}

/** Certificate signing requests in MongoDB, newest first like the embedded store. */
export function createMongoCertificateRequestRepository(db: Db): CertificateRequestRepository {
  const requests = db.collection<CertificateRequestDocument>(CERTIFICATE_REQUESTS);
  const decode = (doc: CertificateRequestDocument): CertificateRequest => {
    const request = fromBinary(CertificateRequestSchema, bytesOfBinary(doc.proto));
    request.namespace ||= DEFAULT_NAMESPACE;
    return request;
  };

  const decisions = db.collection<DecisionDocument>(CERTIFICATE_REQUEST_DECISIONS);
  /** Copies a claimed decision onto a request still PENDING (the claimer stopped between its two writes, or has yet to write). */
  const settle = async (id: string) => {
    const claim = await decisions.findOne({ _id: id });
    if (claim) await requests.updateOne({ _id: id, state: CertificateRequestState.PENDING }, { $set: { state: claim.state, proto: claim.proto } });
  };

  return {
    async save(request) {
      const doc = { namespace: request.namespace || DEFAULT_NAMESPACE, instanceUid: request.instanceUid, state: request.state, proto: new Binary(toBinary(CertificateRequestSchema, request)) };
      await guardMongo(() => upsertWithRetry(() => requests.replaceOne({ _id: request.id }, doc, { upsert: true })));
    },
    async decide(decided) {
      return guardMongo(async () => {
        if (!(await requests.findOne({ _id: decided.id, state: CertificateRequestState.PENDING }, { projection: { _id: 1 } }))) return false;
        const fields = { state: decided.state, proto: new Binary(toBinary(CertificateRequestSchema, decided)) };
        try {
          // The unique _id of the claim decides between concurrent deciders.
          await decisions.insertOne({ _id: decided.id, ...fields });
        } catch (err) {
          if (!(isDuplicateKey(err))) throw err;
          await settle(decided.id); // the winner may not have written its decision yet
          return false;
        }
        await requests.updateOne({ _id: decided.id, state: CertificateRequestState.PENDING }, { $set: fields });
        return true;
      });
    },
    async get(id) {
      const doc = await guardMongo(() => requests.findOne({ _id: id }));
      return doc ? decode(doc) : undefined;
    },
    async list({ namespace, instanceUid, state, limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<CertificateRequestDocument> = namespace === undefined ? {} : { namespace };
      if (instanceUid) filter.instanceUid = instanceUid;
      if (state !== undefined && state !== CertificateRequestState.UNSPECIFIED) filter.state = state;
      if (after) filter._id = { $lt: after };
      const docs = await guardMongo(() => requests.find(filter).sort({ _id: -1 }).limit(limit).toArray());
      return docs.map(decode);
    },
  };
}
