import type { IncomingMessage } from "node:http";
import { silentLogger } from "@fleetplane/platform";
import { afterEach, describe, expect, it } from "vitest";
import { AgentAuthenticator, type AgentAuthMode } from "./agent-authentication.js";

const UID = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6b";
const GOOD = "fpe_good";

/** agent-service's answers: GOOD is token:t1, any certificate but serial "dead" is good. */
function authenticator(mode: AgentAuthMode, asked: unknown[] = []) {
  const agents = {
    authenticateAgent: async (q: { token?: string; certificateSerial?: string }) => {
      asked.push(q);
      if (q.certificateSerial) return q.certificateSerial === "dead" ? { credential: "", refusal: "client certificate revoked" } : { credential: `cert:${q.certificateSerial}`, refusal: "" };
      return q.token === GOOD ? { credential: "token:t1", refusal: "" } : { credential: "", refusal: "unknown token" };
    },
  };
  return new AgentAuthenticator({ mode, agents: agents as never, onRefused: () => {}, held: () => new Set(), logger: silentLogger() });
}

function req(o: { authorization?: string; cert?: { serial: string; uid?: string } } = {}): IncomingMessage {
  const socket = o.cert
    ? { getPeerCertificate: () => ({ serialNumber: o.cert!.serial, subjectaltname: o.cert!.uid ? `URI:urn:uuid:${o.cert!.uid}` : "" }), authorized: true }
    : { getPeerCertificate: () => ({}) };
  return { headers: o.authorization ? { authorization: o.authorization } : {}, socket } as unknown as IncomingMessage;
}

const made: AgentAuthenticator[] = [];
const make = (mode: AgentAuthMode, asked?: unknown[]) => {
  const a = authenticator(mode, asked);
  made.push(a);
  return a;
};
afterEach(() => made.splice(0).forEach((a) => a.stop()));

describe("AgentAuthenticator", () => {
  it("token: asks for a Bearer token (or Basic with the token as password), and records a certificate presented beside it as the binding", async () => {
    const a = make("token");
    expect(await a.authenticate(req())).toMatchObject({ status: 401, reason: expect.stringMatching(/no Authorization header/) });
    expect(await a.authenticate(req({ authorization: `Bearer ${GOOD}` }))).toEqual({ credentials: { credential: "token:t1", enrollmentCredential: "", certificateUid: "" } });
    const basic = `Basic ${Buffer.from(`agent:${GOOD}`).toString("base64")}`;
    expect(await a.authenticate(req({ authorization: basic }))).toMatchObject({ credentials: { credential: "token:t1" } });
    expect(await a.authenticate(req({ authorization: `Basic ${Buffer.from("agent:secret").toString("base64")}` }))).toMatchObject({ status: 401, reason: "unknown token" });
    expect(await a.authenticate(req({ authorization: `Bearer ${"x".repeat(2000)}` }))).toMatchObject({ status: 400 });
    expect(await a.authenticate(req({ authorization: `Bearer ${GOOD}`, cert: { serial: "0AB", uid: UID } }))).toEqual({
      credentials: { credential: "cert:ab", enrollmentCredential: "token:t1", certificateUid: UID },
    });
  });

  it("mtls: asks for a client certificate only; a revoked one is refused", async () => {
    const a = make("mtls");
    expect(await a.authenticate(req({ authorization: `Bearer ${GOOD}` }))).toMatchObject({ status: 401, reason: expect.stringMatching(/no client certificate/) });
    expect(await a.authenticate(req({ cert: { serial: "1" } }))).toEqual({ credentials: { credential: "cert:1", enrollmentCredential: "", certificateUid: "" } });
    expect(await a.authenticate(req({ cert: { serial: "dead", uid: UID } }))).toEqual({ status: 401, reason: "client certificate revoked" });
  });

  it("token+mtls: asks for both", async () => {
    const a = make("token+mtls");
    expect(await a.authenticate(req({ cert: { serial: "1", uid: UID } }))).toMatchObject({ status: 401, reason: expect.stringMatching(/no Authorization header/) });
    expect(await a.authenticate(req({ authorization: `Bearer ${GOOD}` }))).toMatchObject({ status: 401, reason: expect.stringMatching(/no client certificate/) });
    expect(await a.authenticate(req({ authorization: `Bearer ${GOOD}`, cert: { serial: "1", uid: UID } }))).toMatchObject({ credentials: { credential: "cert:1", enrollmentCredential: "token:t1" } });
  });

  it("none: asks for nothing, but checks a certificate that is presented", async () => {
    const a = make("none");
    expect(await a.authenticate(req())).toEqual({ credentials: { credential: "", enrollmentCredential: "", certificateUid: "" } });
    expect(await a.authenticate(req({ cert: { serial: "dead" } }))).toMatchObject({ status: 401 });
  });

  it("remembers answers: a polling agent costs one question", async () => {
    const asked: unknown[] = [];
    const a = make("token+mtls", asked);
    for (let i = 0; i < 5; i++) await a.authenticate(req({ authorization: `Bearer ${GOOD}`, cert: { serial: "1", uid: UID } }));
    expect(asked).toHaveLength(2);
  });
});
