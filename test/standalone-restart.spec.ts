import { describe, expect, it } from "vitest";
import { CommandKind, RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { httpPoll, description } from "./support/simulated-agent.js";
import { startTestServer } from "./support/standalone-server.js";

describe("standalone restart", () => {
  it("keeps every agent, remote config, pending command and audit record", async () => {
    const first = await startTestServer();
    const uid = uuidv7Bytes();
    await httpPoll(first.httpUrl, { instanceUid: uid, agentDescription: description("durable") as never });
    await first.agents.setRemoteConfig({ instanceUid: instanceUidToHex(uid), files: { "": { content: { case: "text", value: "keep: me" } } }, requestedBy: "restart-test" });
    await first.agents.sendCommand({ instanceUid: instanceUidToHex(uid), kind: CommandKind.REPORT_FULL_STATE });
    await first.server.close();

    const second = await startTestServer({ dataDir: first.dataDir });
    try {
      const { agent } = await second.agents.getAgent({ instanceUid: instanceUidToHex(uid) });
      expect(agent!.spec!.remoteConfig!.data!.status).toBe(RemoteConfigState.UNSET);
      expect(new TextDecoder().decode(agent!.spec!.remoteConfig!.data!.config!.configMap[""]!.body)).toBe("keep: me");
      expect(agent!.commands.filter((c) => !c.deliveredAt).map((c) => c.kind).sort()).toEqual([CommandKind.REMOTE_CONFIG_UPDATED, CommandKind.REPORT_FULL_STATE]);
      const { commands } = await second.commands.listCommands({ instanceUid: instanceUidToHex(uid) });
      expect(commands.map((c) => c.kind).sort()).toEqual(["remote_config", "report_full_state"]);
      // The agent's next poll delivers what was pending before the restart.
      const poll = await httpPoll(second.httpUrl, { instanceUid: uid, sequenceNum: 1n });
      expect(new TextDecoder().decode(poll.message!.remoteConfig!.config!.configMap[""]!.body)).toBe("keep: me");
    } finally {
      await second.server.close();
    }
  });
});
