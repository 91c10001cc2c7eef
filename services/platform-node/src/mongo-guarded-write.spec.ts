import { describe, expect, it } from "vitest";
import { sameValue } from "./mongo-guarded-write.js";

// updateByIdWhile itself runs against FerretDB in the agent and command
// repository contracts, both ways (test/repositories.spec.ts); this is the
// comparison its FerretDB branch makes in place of the database's.
describe("sameValue (the guard's comparison on FerretDB)", () => {
  it("takes an int64 read as bigint and an int32 read as number for the same revision", () => {
    expect(sameValue(7n, 7)).toBe(true);
    expect(sameValue(7, 7n)).toBe(true);
    expect(sameValue(2n ** 60n, 2n ** 60n)).toBe(true);
  });
  it("tells different numbers apart, however they are held", () => {
    expect(sameValue(7n, 8)).toBe(false);
    expect(sameValue(7, 8)).toBe(false);
    expect(sameValue(7.5, 7n)).toBe(false);
  });
  it("never matches a missing field or a value of another kind", () => {
    expect(sameValue(undefined, 0)).toBe(false);
    expect(sameValue(null, 0n)).toBe(false);
    expect(sameValue("1", 1)).toBe(false);
  });
});
