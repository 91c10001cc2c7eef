import { describe, expect, it } from "vitest";
import { isLoopbackAddress } from "./loopback.js";

describe("loopback addresses", () => {
  it("are 127/8, ::1 and localhost; wildcards and other addresses are not", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]) expect(isLoopbackAddress(h), h).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com", "127.0.0.1.example.com", "localhost.example"]) expect(isLoopbackAddress(h), h).toBe(false);
  });
});
