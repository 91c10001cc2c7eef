import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { description, httpPoll } from "./support/simulated-agent.js";
import { eventually } from "./support/eventually.js";
import { startTestServer } from "./support/standalone-server.js";

let t: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.server.close();
});

describe("WatchAgents", () => {
  it("streams an agent's changes as they are stored", async () => {
    const uid = uuidv7Bytes();
    const abort = new AbortController();
    // What each change shows: "config", or the name the agent reported while connected.
    const seen: string[] = [];
    const stream = (async () => {
      try {
        for await (const change of t.agents.watchAgents({ instanceUid: instanceUidToHex(uid) }, { signal: abort.signal })) {
          const agent = change.agent;
          const name = agent?.metadata?.description?.identifyingAttributes[0]?.value?.value.value;
          seen.push(agent?.spec?.remoteConfig?.data ? "config" : agent?.status?.connected ? `connected as ${String(name)}` : "other");
          if (seen.at(-1) === "config") abort.abort();
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    })();
    // The server gives no sign that a watch is open, so the agent keeps
    // reporting (a new name each time, so each report is a stored change)
    // until the stream shows one of its reports.
    let reports = 0;
    await eventually(async () => {
      await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: BigInt(reports), agentDescription: description(`watched-${reports}`) as never });
      reports++;
      return seen.length > 0;
    }, 5_000, "the stream to show the agent's report");
    const firstSeen = Number(/watched-(\d+)$/.exec(seen[0] ?? "")?.[1]);
    await t.agents.setRemoteConfig({ instanceUid: instanceUidToHex(uid), files: { "": { content: { case: "text", value: "a: 1" } } } });
    const timeout = setTimeout(() => abort.abort(), 5_000);
    await stream;
    clearTimeout(timeout);
    // Every report from the first one seen on, in the order stored, then the config.
    const expected = Array.from({ length: reports - firstSeen }, (_, i) => `connected as watched-${firstSeen + i}`);
    expect(seen).toEqual([...expected, "config"]);
  });
});
