import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { LabelSelectorSchema, type LabelSelector } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { matchesSelector, validateSelector } from "./label-selector.js";

const selector = (s: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> }): LabelSelector =>
  create(LabelSelectorSchema, { matchLabels: s.matchLabels ?? {}, matchExpressions: (s.matchExpressions ?? []).map((e) => ({ key: e.key, operator: e.operator, values: e.values ?? [] })) });

const agent = { env: "prod", "service.name": "checkout", tier: "" };
const lookup = (key: string) => (Object.hasOwn(agent, key) ? agent[key as keyof typeof agent] : undefined);

describe("label selector semantics (Kubernetes)", () => {
  const cases: Array<[string, Parameters<typeof selector>[0], boolean]> = [
    ["empty selector matches everything", {}, true],
    ["matchLabels: equal value", { matchLabels: { env: "prod" } }, true],
    ["matchLabels: other value", { matchLabels: { env: "dev" } }, false],
    ["matchLabels: missing key", { matchLabels: { zone: "a" } }, false],
    ["matchLabels: all pairs must hold", { matchLabels: { env: "prod", "service.name": "cart" } }, false],
    ["matchLabels: empty value matches an empty value", { matchLabels: { tier: "" } }, true],
    ["In: value listed", { matchExpressions: [{ key: "env", operator: "In", values: ["dev", "prod"] }] }, true],
    ["In: value not listed", { matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] }, false],
    ["In: key missing", { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }, false],
    ["NotIn: value listed", { matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }, false],
    ["NotIn: value not listed", { matchExpressions: [{ key: "env", operator: "NotIn", values: ["dev"] }] }, true],
    ["NotIn: key missing holds", { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, true],
    ["Exists: key present", { matchExpressions: [{ key: "service.name", operator: "Exists" }] }, true],
    ["Exists: key present with empty value", { matchExpressions: [{ key: "tier", operator: "Exists" }] }, true],
    ["Exists: key missing", { matchExpressions: [{ key: "zone", operator: "Exists" }] }, false],
    ["DoesNotExist: key missing", { matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, true],
    ["DoesNotExist: key present", { matchExpressions: [{ key: "env", operator: "DoesNotExist" }] }, false],
    [
      "labels and expressions together",
      { matchLabels: { env: "prod" }, matchExpressions: [{ key: "service.name", operator: "In", values: ["checkout"] }, { key: "zone", operator: "DoesNotExist" }] },
      true,
    ],
  ];
  for (const [name, s, expected] of cases) {
    it(name, () => {
      validateSelector(selector(s), "group.selector");
      expect(matchesSelector(selector(s), lookup)).toBe(expected);
    });
  }
});

describe("invalid selectors name the field", () => {
  const cases: Array<[Parameters<typeof selector>[0], RegExp]> = [
    [{ matchLabels: { "": "x" } }, /group\.selector\.match_labels has an empty key/],
    [{ matchExpressions: [{ key: "", operator: "Exists" }] }, /group\.selector\.match_expressions\[0\]\.key is empty/],
    [{ matchExpressions: [{ key: "env", operator: "Exists" }, { key: "env", operator: "Equals", values: ["a"] }] }, /match_expressions\[1\]\.operator "Equals" is not one of In, NotIn, Exists, DoesNotExist/],
    [{ matchExpressions: [{ key: "env", operator: "In" }] }, /match_expressions\[0\]\.values: In needs at least one value/],
    [{ matchExpressions: [{ key: "env", operator: "Exists", values: ["a"] }] }, /match_expressions\[0\]\.values: Exists takes no values/],
  ];
  for (const [s, message] of cases) {
    it(String(message), () => {
      const attempt = () => validateSelector(selector(s), "group.selector");
      expect(attempt).toThrow(InvalidRequestError);
      expect(attempt).toThrow(message);
    });
  }
});
