import { describe, expect, it } from "vitest";
import { SERVER_CAPABILITIES, serverCapabilities, serverToAgent } from "@fleetplane/opamp";
import { AnnouncedCapabilities } from "./announced-capabilities.js";

const uid = new Uint8Array(16).fill(1);

describe("the capabilities the gateway announces itself", () => {
  it("are the base set until a reply from agent-service went through", () => {
    expect(new AnnouncedCapabilities().current).toBe(SERVER_CAPABILITIES);
  });

  it("follow the latest reply relayed, such as one announcing CSR signing", () => {
    const announced = new AnnouncedCapabilities();
    const signing = serverCapabilities({ signsCertificates: true });
    expect(signing).not.toBe(SERVER_CAPABILITIES);
    announced.relayed(serverToAgent(uid, signing));
    expect(announced.current).toBe(signing);
    announced.relayed(serverToAgent(uid, SERVER_CAPABILITIES));
    expect(announced.current).toBe(SERVER_CAPABILITIES);
  });

  it("keep what they knew when a reply carries no capabilities", () => {
    const announced = new AnnouncedCapabilities();
    const signing = serverCapabilities({ signsCertificates: true });
    announced.relayed(serverToAgent(uid, signing));
    announced.relayed(serverToAgent(uid, 0n));
    expect(announced.current).toBe(signing);
  });
});
