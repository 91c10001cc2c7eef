import { describe, expect, it } from "vitest";
import { bindingRefusal, certificateCredential, enrollmentCredentialOf } from "./credential-binding.js";

const UID = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6b";
const OTHER = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6c";
const conn = (credential: string, certificateUid = "", enrollmentCredential = "") => ({ credential, certificateUid, enrollmentCredential });

describe("bindingRefusal", () => {
  it("lets an unbound UID be taken by anything, and a bound one by its own credential", () => {
    expect(bindingRefusal("", conn(""), UID)).toBeUndefined();
    expect(bindingRefusal("", conn("token:a"), UID)).toBeUndefined();
    expect(bindingRefusal("token:a", conn("token:a"), UID)).toBeUndefined();
    expect(bindingRefusal("cert:1", conn("cert:1", UID), UID)).toBeUndefined();
  });

  it("refuses another token, another certificate, or no credential for a bound UID", () => {
    expect(bindingRefusal("token:a", conn("token:b"), UID)).toBe("instance UID is bound to another credential");
    expect(bindingRefusal("cert:1", conn("token:a"), UID)).toBe("instance UID is bound to another credential");
    expect(bindingRefusal("token:a", conn("cert:9"), UID)).toBe("instance UID is bound to another credential");
    expect(bindingRefusal("token:a", conn(""), UID)).toMatch(/presented none/);
  });

  it("lets a certificate issued for this very UID take it over, and no other certificate", () => {
    expect(bindingRefusal("token:a", conn("cert:2", UID), UID)).toBeUndefined();
    expect(bindingRefusal("cert:1", conn("cert:2", UID), UID)).toBeUndefined();
    expect(bindingRefusal("token:a", conn("cert:2", OTHER), UID)).toBeDefined();
  });
});

describe("enrollmentCredentialOf", () => {
  it("is the token a new agent enrolls with: the one beside a certificate, else its token credential, else none", () => {
    expect(enrollmentCredentialOf(conn("cert:1", UID, "token:a"))).toBe("token:a");
    expect(enrollmentCredentialOf(conn("token:b"))).toBe("token:b");
    expect(enrollmentCredentialOf(conn("cert:1", UID))).toBe("");
    expect(enrollmentCredentialOf(conn(""))).toBe("");
  });
});

describe("certificateCredential", () => {
  it("writes the serial as recorded everywhere", () => {
    expect(certificateCredential("00AB12")).toBe("cert:ab12");
  });
});
