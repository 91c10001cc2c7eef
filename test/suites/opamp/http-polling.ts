import { timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { RemoteConfigStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { description, httpPoll } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** A plain-HTTP agent is served on its polls: what is pending reaches it on the next one, and silence or a goodbye disconnects it. */
export function httpPollingBehaviour(topology: Topology): void {
  describe("an HTTP agent", () => {
    it("gets a pending config on its next poll, gzip both ways, and reports Applied", async () => {
      const t = topology();
      const uid = uuidv7Bytes();
      const first = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 0n, agentDescription: description("http") as never }, { gzipRequest: true, keepAlive: true });
      expect(first.status).toBe(200);
      expect(first.headers.get("content-type")).toBe("application/x-protobuf");
      // Connections outlive the default 30 s polling interval.
      expect(first.headers.get("keep-alive")).toBe("timeout=120");
      expect(hex(first.message!.instanceUid)).toBe(hex(uid));

      const big = "x: " + "y".repeat(4000) + "\n";
      const { pushed } = await t.agents.setRemoteConfig({ instanceUid: hex(uid), files: { "collector.yaml": { content: { case: "text", value: big } } } });
      expect(pushed).toBe(false);
      const poll = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 1n }, { acceptGzip: true });
      expect(poll.headers.get("content-encoding")).toBe("gzip");
      const rc = poll.message!.remoteConfig!;
      expect(new TextDecoder().decode(rc.config!.configMap["collector.yaml"]!.body)).toBe(big);

      await httpPoll(t.httpUrl, {
        instanceUid: uid,
        sequenceNum: 2n,
        remoteConfigStatus: { $typeName: "opamp.proto.v1.RemoteConfigStatus", lastRemoteConfigHash: rc.configHash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED, errorMessage: "" },
      });
      const { agent } = await t.agents.getAgent({ instanceUid: hex(uid) });
      expect(agent!.spec!.remoteConfig!.data!.status).toBe(RemoteConfigState.APPLIED);
      const next = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 3n }, { acceptGzip: true });
      expect(next.message!.remoteConfig).toBeUndefined();
      expect(next.headers.get("content-encoding")).toBeNull(); // small replies are not worth compressing
    });

    it("is marked disconnected when it says goodbye", async () => {
      const t = topology();
      const bye = uuidv7Bytes();
      await httpPoll(t.httpUrl, { instanceUid: bye, agentDescription: description() as never });
      await httpPoll(t.httpUrl, { instanceUid: bye, sequenceNum: 1n, agentDisconnect: { $typeName: "opamp.proto.v1.AgentDisconnect" } });
      const gone = await eventually(async () => {
        const { agent } = await t.agents.getAgent({ instanceUid: hex(bye) });
        return agent?.status?.connected === false ? agent.status : undefined;
      });
      // Disconnected by its goodbye, not by silence: at the goodbye, well within the 1.5 s a silent agent is given.
      expect(timestampMs(gone.disconnectedAt!) - timestampMs(gone.lastSeenAt!)).toBeLessThan(1_500);
    });

    it("is marked disconnected when it stops polling", async () => {
      const t = topology();
      const silent = uuidv7Bytes();
      await httpPoll(t.httpUrl, { instanceUid: silent, agentDescription: description() as never });
      expect((await t.agents.getAgent({ instanceUid: hex(silent) })).agent?.status?.connected).toBe(true);
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(silent) })).agent?.status?.connected === false, 10_000, "timeout disconnect");
    });
  });
}
