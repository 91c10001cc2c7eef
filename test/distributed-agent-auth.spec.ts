// Agent authentication across the distributed topology: two gateways (TLS,
// client certificates checked against the CSR CA), two agent-service
// replicas on one FerretDB store and one NATS. A UID bound on one gateway
// cannot be taken on the other; a token or a certificate revoked through
// one agent-service replica closes the connection a gateway reporting to
// the other replica holds.
import { CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certifiedAgent, clientCertificate, upgrade, writeServerPair, type ClientCertificate } from "./support/client-certificates.js";
import { startDistributed, type Distributed } from "./support/distributed.js";
import { eventually } from "./support/eventually.js";
import { WsAgent, description, httpPoll, type AgentTls } from "./support/simulated-agent.js";

const natsServer = process.env.FLEETPLANE_NATS_SERVER;
const ferretdb = process.env.FLEETPLANE_FERRETDB;
if (!natsServer || !ferretdb) console.warn("\n!!! FLEETPLANE_NATS_SERVER / FLEETPLANE_FERRETDB not set: distributed agent authentication tests are SKIPPED !!!\n");

const pair = writeServerPair(mkdtempSync(join(tmpdir(), "fleetplane-dist-auth-")));
const serverCa = readFileSync(pair.certFile, "utf8");
const tls = (c?: ClientCertificate): AgentTls => ({ ca: serverCa, ...(c ? { cert: c.certPem, key: c.keyPem } : {}) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe.skipIf(!natsServer || !ferretdb)("agent authentication through two gateways, NATS and FerretDB", () => {
  let d: Distributed;
  beforeAll(async () => {
    d = await startDistributed({ agentServiceReplicas: 2, csrApproval: "auto", opampTls: pair, clientCaIsCsrCa: true });
  }, 120_000);
  afterAll(async () => {
    await d?.close();
  });

  it("refuses, on the other gateway, another token for a UID bound on the first: 401 over HTTP, 1008 over WebSocket, the agent untouched", async () => {
    const owner = await d.enrollment.createEnrollmentToken({ description: "owner" });
    const attacker = await d.enrollment.createEnrollmentToken({ description: "attacker" });
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    const agent = await WsAgent.hello(d.wsUrlOf(0), uid, { agentDescription: description("owner") }, { headers: bearer(owner.secret), tls: tls() });
    const before = (await d.agents.getAgent({ instanceUid: hex })).agent!;
    expect(before.metadata?.credential).toBe(`token:${owner.token!.id}`);

    const poll = await httpPoll(d.httpUrlOf(1), { instanceUid: uid, sequenceNum: 99n, agentDisconnect: {} }, { withoutToken: true, headers: bearer(attacker.secret), tls: tls() });
    expect(poll.status).toBe(401);
    expect(poll.message).toBeUndefined();
    const forged = await WsAgent.connect(d.wsUrlOf(1), uid, { headers: bearer(attacker.secret), tls: tls() });
    forged.send({ agentDescription: description("forged") });
    await eventually(() => forged.closeCode === 1008, 10_000, "the forged socket closed 1008");
    expect(forged.received).toHaveLength(0);

    const after = (await d.agents.getAgent({ instanceUid: hex })).agent!;
    expect(after.status?.connected).toBe(true);
    expect(after.status?.gatewayId).toBe("gw-a");
    expect(after.metadata?.credential).toBe(`token:${owner.token!.id}`);
    await agent.close();
  });

  it("binds a UID to the certificate issued for it (CSR on one gateway, mTLS on the other); its token alone, or a certificate for another UID, no longer speaks for it", async () => {
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    const { certified, own } = await certifiedAgent({ enrollAt: d.wsUrlOf(0), connectAt: d.wsUrlOf(1), uid, tls });
    expect((await d.agents.getAgent({ instanceUid: hex })).agent!.metadata?.credential).toBe(`cert:${own.serial}`);

    // The token it enrolled with: refused on either gateway now.
    const tokenOnly = await httpPoll(d.httpUrlOf(0), { instanceUid: uid, sequenceNum: 50n }, { tls: tls() });
    expect(tokenOnly.status).toBe(401);
    // Another agent's certificate: refused at the gateway, before agent-service.
    const other = await clientCertificate({ caCertPem: d.caCertPem!, caKeyPem: d.caKeyPem! }, { uid: instanceUidToHex(uuidv7Bytes()) });
    const wrong = await httpPoll(d.httpUrlOf(0), { instanceUid: uid, sequenceNum: 51n }, { tls: tls(other) });
    expect([wrong.status, wrong.text]).toEqual([401, expect.stringMatching(/client certificate is for instance UID/)]);
    expect((await d.agents.getAgent({ instanceUid: hex })).agent!.status?.gatewayId).toBe("gw-b");
    await certified.close();
  });

  it("closes, on the gateway reporting to the other agent-service replica, the connections of a token or a certificate revoked through the first; their next connections are refused", async () => {
    const { token, secret } = await d.enrollment.createEnrollmentToken({ description: "to revoke" });
    const byToken = await WsAgent.hello(d.wsUrlOf(1), uuidv7Bytes(), { agentDescription: description() }, { headers: bearer(secret), tls: tls() });
    await d.enrollment.revokeEnrollmentToken({ id: token!.id });
    await eventually(() => byToken.closeCode === 1008, 15_000, "the token's socket on gw-b closed 1008");
    expect((await upgrade(d.wsUrlOf(1), tls(), bearer(secret))).status).toBe(401);

    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    const { certified, own } = await certifiedAgent({ enrollAt: d.wsUrlOf(1), connectAt: d.wsUrlOf(1), uid, tls });
    const { requests } = await d.certificates.listCertificateRequests({ instanceUid: hex, state: CertificateRequestState.APPROVED });
    await d.certificates.revokeCertificate({ id: requests[0]!.id, reason: "decommissioned" });
    await eventually(() => certified.closeCode === 1008, 15_000, "the certificate's socket on gw-b closed 1008");
    const again = await upgrade(d.wsUrlOf(0), tls(own));
    expect([again.status, again.body]).toEqual([401, expect.stringMatching(/revoked/)]);
    await expect(d.certificates.revokeCertificate({ id: requests[0]!.id, reason: "again" })).resolves.toMatchObject({ request: { state: CertificateRequestState.REVOKED, reason: "decommissioned" } });
  });
});
