import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { CertificateRequestSchema, CertificateRequestState, type CertificateRequest } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import type { CertificateRequestRepository } from "../certificates/certificate-request-repository.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";

/**
 * Certificate signing requests in the embedded store. Ids are UUIDv7 hex, so
 * key order is arrival order and "newest first" is a reverse scan; a second
 * table keyed "<agent uid>/<id>" serves one agent's requests without a full
 * scan. Few requests exist next to agents, so the namespace and state
 * filters are applied while scanning; a request stored before namespaces
 * (no namespace) is read as "default", so no stored record needs rewriting.
 */
export function createLmdbCertificateRequestRepository(store: EmbeddedStore): CertificateRequestRepository {
  const requests = store.openDB<Buffer, string>({ name: "certificate-requests", encoding: "binary" });
  const byAgent = store.openDB<string, string>({ name: "certificate-requests-by-agent", encoding: "string" });
  // A plain Uint8Array copy: decoding a Buffer would leave Buffers in the bytes fields.
  const decode = (bytes: Buffer | undefined) => {
    if (!bytes) return undefined;
    const request = fromBinary(CertificateRequestSchema, new Uint8Array(bytes));
    request.namespace ||= DEFAULT_NAMESPACE;
    return request;
  };

  return {
    async save(request) {
      await store.transaction(() => {
        requests.put(request.id, Buffer.from(toBinary(CertificateRequestSchema, request)));
        byAgent.put(`${request.instanceUid}/${request.id}`, request.id);
      });
    },
    async decide(decided) {
      const bytes = Buffer.from(toBinary(CertificateRequestSchema, decided));
      // The state check and the write run in one write transaction, which LMDB
      // serializes across every process opening the environment.
      return store.transaction(() => {
        if (decode(requests.get(decided.id))?.state !== CertificateRequestState.PENDING) return false;
        requests.put(decided.id, bytes);
        return true;
      });
    },
    async get(id) {
      return decode(requests.get(id));
    },
    async list({ namespace, instanceUid, state, limit, after }) {
      const out: CertificateRequest[] = [];
      const wanted = (r: CertificateRequest | undefined): r is CertificateRequest =>
        r !== undefined && (namespace === undefined || r.namespace === namespace) && (state === undefined || state === CertificateRequestState.UNSPECIFIED || r.state === state);
      const ids = instanceUid ? idsOfAgent(instanceUid, after) : allIds(after);
      for (const id of ids) {
        if (out.length >= limit) break;
        const request = decode(requests.get(id));
        if (wanted(request)) out.push(request);
      }
      return out;
    },
  };

  function* idsOfAgent(uid: string, after: string | undefined): Generator<string> {
    const prefix = `${uid}/`;
    const start = after ? `${prefix}${after}` : `${prefix}\uffff`;
    for (const { key, value } of byAgent.getRange({ start, end: prefix, reverse: true })) if (key !== `${prefix}${after}`) yield value;
  }

  function* allIds(after: string | undefined): Generator<string> {
    for (const key of requests.getKeys(after ? { start: after, reverse: true } : { reverse: true })) if (key !== after) yield key;
  }
}
