import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { AgentToServerSchema, ComponentDetailsSchema, ComponentHealthSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { describe, expect, it } from "vitest";
import { MessageOverLimitError, checkAgentMessageLimits, checkAgentMessagePrefix, type AgentMessageLimits } from "./agent-message-limits.js";

const LIMITS: AgentMessageLimits = { maxDescriptionAttributes: 5, maxAttributeBytes: 100, maxCustomMessageBytes: 200, maxEffectiveConfigBytes: 300, maxHealthComponents: 6, maxHealthDepth: 3,
  maxPackageStatuses: 4, maxPackageStatusBytes: 64, maxAvailableComponents: 6, maxAvailableComponentsDepth: 3, maxAvailableComponentsBytes: 2_000,
};
const uid = new Uint8Array(16).fill(4);
const encode = (m: MessageInitShape<typeof AgentToServerSchema>) => toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, ...m }));
const attrs = (n: number, value = "v") => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: { value: { case: "stringValue" as const, value } } }));

/** The flag named by the MessageOverLimitError `body` raises, or undefined when it passes. */
function refusedBy(body: Uint8Array, limits = LIMITS): string | undefined {
  try {
    checkAgentMessageLimits(body, limits);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(MessageOverLimitError);
    expect((err as MessageOverLimitError).instanceUid).toEqual(uid);
    return (err as MessageOverLimitError).flag;
  }
}

/** A health tree `depth` levels deep with `width` children under each inner node. */
function tree(depth: number, width: number): MessageInitShape<typeof AgentToServerSchema>["health"] {
  const node = (d: number): MessageInitShape<typeof ComponentHealthSchema> => ({
    healthy: true,
    componentHealthMap: d < depth ? Object.fromEntries(Array.from({ length: width }, (_, i) => [`c${i}`, node(d + 1)])) : {},
  });
  return node(1);
}

/** available_components `depth` levels deep with `width` children under each inner node (the top level included). */
function components(depth: number, width: number, metadataBytes = 0): MessageInitShape<typeof AgentToServerSchema>["availableComponents"] {
  const node = (d: number): MessageInitShape<typeof ComponentDetailsSchema> => ({
    metadata: metadataBytes > 0 ? attrs(1, "m".repeat(metadataBytes)) : [],
    subComponentMap: d < depth ? Object.fromEntries(Array.from({ length: width }, (_, i) => [`c${i}`, node(d + 1)])) : {},
  });
  return { hash: new Uint8Array(32), components: Object.fromEntries(Array.from({ length: width }, (_, i) => [`t${i}`, node(1)])) };
}

/** package_statuses listing `n` packages, each with `field` as its error message. */
const packages = (n: number, field = "e"): MessageInitShape<typeof AgentToServerSchema>["packageStatuses"] => ({
  serverProvidedAllPackagesHash: new Uint8Array(32),
  packages: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { name: `p${i}`, agentHasVersion: "1.0", agentHasHash: new Uint8Array(32), errorMessage: field }])),
});

describe("checkAgentMessageLimits", () => {
  it("passes a message within every limit", () => {
    expect(
      refusedBy(
        encode({
          agentDescription: { identifyingAttributes: attrs(2), nonIdentifyingAttributes: attrs(3) },
          customMessage: { capability: "c", type: "t", data: new Uint8Array(150) },
          effectiveConfig: { configMap: { configMap: { "": { body: new Uint8Array(250) } } } },
          health: tree(3, 2),
        }),
      ),
    ).toBeUndefined();
  });

  it("counts identifying and non-identifying attributes together", () => {
    expect(refusedBy(encode({ agentDescription: { identifyingAttributes: attrs(3), nonIdentifyingAttributes: attrs(3) } }))).toBe("--max-description-attributes");
  });

  it("refuses an attribute over its size, custom messages and effective configs over theirs", () => {
    expect(refusedBy(encode({ agentDescription: { nonIdentifyingAttributes: attrs(1, "x".repeat(120)) } }))).toBe("--max-attribute-bytes");
    expect(refusedBy(encode({ customMessage: { capability: "c", type: "t", data: new Uint8Array(250) } }))).toBe("--max-custom-message-bytes");
    expect(refusedBy(encode({ effectiveConfig: { configMap: { configMap: { "": { body: new Uint8Array(400) } } } } }))).toBe("--max-effective-config-bytes");
  });

  it("refuses a health tree too deep or with too many components", () => {
    expect(refusedBy(encode({ health: tree(4, 1) }))).toBe("--max-health-depth");
    expect(refusedBy(encode({ health: tree(2, 7) }))).toBe("--max-health-components");
    expect(refusedBy(encode({ health: tree(3, 2) }))).toBeUndefined(); // 2 + 4 components, 3 levels
  });

  it("refuses package_statuses with too many packages, or a name, hash or error message over its size", () => {
    expect(refusedBy(encode({ packageStatuses: packages(4) }))).toBeUndefined();
    expect(refusedBy(encode({ packageStatuses: packages(5) }))).toBe("--max-package-statuses");
    expect(refusedBy(encode({ packageStatuses: packages(1, "x".repeat(65)) }))).toBe("--max-package-status-bytes");
    expect(refusedBy(encode({ packageStatuses: { packages: { ["n".repeat(65)]: { name: "n" } } } }))).toBe("--max-package-status-bytes");
    expect(refusedBy(encode({ packageStatuses: { packages: { p: { name: "p", agentHasHash: new Uint8Array(65) } } } }))).toBe("--max-package-status-bytes");
    expect(refusedBy(encode({ packageStatuses: { errorMessage: "x".repeat(65) } }))).toBe("--max-package-status-bytes");
    expect(refusedBy(encode({ packageStatuses: packages(50, "x".repeat(500)) }), { ...LIMITS, maxPackageStatuses: 0, maxPackageStatusBytes: 0 })).toBeUndefined();
  });

  it("refuses available_components with too many components, too many levels or too many bytes", () => {
    expect(refusedBy(encode({ availableComponents: components(3, 1) }))).toBeUndefined();
    expect(refusedBy(encode({ availableComponents: components(4, 1) }))).toBe("--max-available-components-depth");
    expect(refusedBy(encode({ availableComponents: components(2, 3) }))).toBe("--max-available-components"); // 3 + 9
    expect(refusedBy(encode({ availableComponents: components(2, 2) }))).toBeUndefined(); // 2 + 4
    expect(refusedBy(encode({ availableComponents: components(1, 1, 2_100) }))).toBe("--max-available-components-bytes");
    expect(refusedBy(encode({ availableComponents: components(2, 30, 10) }), { ...LIMITS, maxAvailableComponents: 0, maxAvailableComponentsBytes: 0 })).toBeUndefined();
  });

  it("treats 0 as no limit, and leaves bytes that are not protobuf to the decoder", () => {
    const open = { ...LIMITS, maxDescriptionAttributes: 0, maxAttributeBytes: 0 };
    expect(refusedBy(encode({ agentDescription: { nonIdentifyingAttributes: attrs(50, "x".repeat(500)) } }), open)).toBeUndefined();
    expect(() => checkAgentMessageLimits(Uint8Array.of(0x0a, 0x20, 1), LIMITS)).not.toThrow();
    expect(() => checkAgentMessageLimits(Uint8Array.of(0xff, 0xff, 0xff), LIMITS)).not.toThrow();
  });

  it("stops at a field numbered 0 (no protobuf: the decoder refuses it) instead of walking a zero-filled body to its end", () => {
    // A gzip bomb inflates to zeros. Walked on, each zero byte pair reads as an empty field, and the over-limit field
    // behind a MiB of them would be found — after ~1.5 s of event loop per 64 MiB. The walk stops at the first byte.
    const overLimit = encode({ customMessage: { capability: "c", type: "t", data: new Uint8Array(1_000) } });
    const body = new Uint8Array(2 ** 20 + overLimit.length);
    body.set(overLimit, 2 ** 20);
    expect(refusedBy(overLimit)).toBe("--max-custom-message-bytes");
    expect(refusedBy(body)).toBeUndefined();
  });

  it("judges the first bytes of a message still arriving: a count already past its limit, a declared size over its limit; the rest waits for the whole message", () => {
    const prefixRefusedBy = (body: Uint8Array, bytes: number) => {
      try {
        checkAgentMessagePrefix(body.slice(0, bytes), LIMITS);
        return undefined;
      } catch (err) {
        expect(err).toBeInstanceOf(MessageOverLimitError);
        expect((err as MessageOverLimitError).instanceUid).toEqual(uid);
        return (err as MessageOverLimitError).flag;
      }
    };
    const flood = encode({ agentDescription: { identifyingAttributes: attrs(10_000) } });
    expect(prefixRefusedBy(flood, 200)).toBe("--max-description-attributes");
    expect(prefixRefusedBy(flood, 40)).toBeUndefined(); // not 6 attributes in sight yet
    // A config declared over its limit is refused before its bytes are there.
    expect(prefixRefusedBy(encode({ effectiveConfig: { configMap: { configMap: { "": { body: new Uint8Array(5_000) } } } } }), 50)).toBe("--max-effective-config-bytes");
    // Within the limits so far: nothing said, and the whole message is still checked as before.
    const fine = encode({ agentDescription: { identifyingAttributes: attrs(3) }, customMessage: { capability: "c", type: "t", data: new Uint8Array(150) } });
    for (let n = 0; n <= fine.length; n++) expect(prefixRefusedBy(fine, n)).toBeUndefined();
    // A prefix check leaves whole-message checks of the same bytes alone.
    expect(refusedBy(flood.slice(0, 200))).toBeUndefined();
  });

  it("stops at the limit: a flood of 200,000 attributes is refused without walking them all", () => {
    const flood = encode({ agentDescription: { nonIdentifyingAttributes: attrs(200_000) } });
    expect(refusedBy(flood, { ...LIMITS, maxDescriptionAttributes: 1_000 })).toBe("--max-description-attributes");
  });
});
