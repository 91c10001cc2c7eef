import { describe, expect, it } from "vitest";
import { InvalidRoleBindingError, permissionsIn, permits, roleBinding } from "./role-bindings.js";

describe("role bindings", () => {
  it("grant a role's permissions in their namespace, or everywhere with *", () => {
    const operator = [roleBinding("key:ci", "operator", "default")];
    expect(permits(operator, "operate")).toBe(true);
    expect(permits(operator, "administer")).toBe(false);
    expect(permissionsIn(operator)).toEqual(["read", "read-secrets", "operate"]);
    expect(permits([roleBinding("oidc:alice", "admin", "*")], "administer", "default")).toBe(true);
  });

  it("a role bound in another namespace grants nothing here", () => {
    const elsewhere = [roleBinding("key:ci", "admin", "team-b")];
    expect(permits(elsewhere, "read", "default")).toBe(false);
    expect(permissionsIn(elsewhere)).toEqual([]);
  });

  it("refuse unknown roles, malformed identities and namespaces", () => {
    expect(() => roleBinding("key:ci", "root")).toThrow(InvalidRoleBindingError);
    expect(() => roleBinding("alice", "viewer")).toThrow(InvalidRoleBindingError);
    expect(() => roleBinding("key:ci", "viewer", "Bad_NS")).toThrow(InvalidRoleBindingError);
    expect(roleBinding("key:ci", "viewer", "").namespace).toBe("default");
  });
});
