import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceUidToHex } from "@fleetplane/platform/instance-uid";
import { uuidv7Bytes } from "@fleetplane/platform/uuidv7";
import { description, httpPoll } from "./support/simulated-agent.js";
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
    const seen: string[] = [];
    const stream = (async () => {
      try {
        for await (const change of t.agents.watchAgents({ instanceUid: instanceUidToHex(uid) }, { signal: abort.signal })) {
          seen.push(change.agent?.spec?.remoteConfig?.data ? "config" : change.agent?.status?.connected ? "connected" : "other");
          if (seen.length >= 2) abort.abort();
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    })();
    await new Promise((r) => setTimeout(r, 100)); // let the stream open
    await httpPoll(t.httpUrl, { instanceUid: uid, agentDescription: description("watched") as never });
    await t.agents.setRemoteConfig({ instanceUid: instanceUidToHex(uid), files: { "": { content: { case: "text", value: "a: 1" } } } });
    const timeout = setTimeout(() => abort.abort(), 5_000);
    await stream;
    clearTimeout(timeout);
    expect(seen).toEqual(["connected", "config"]);
  });
});
