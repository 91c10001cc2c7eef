import { describe, expect, it } from "vitest";
import { eventually } from "./eventually.js";

describe("eventually", () => {
  it("keeps polling while the probe returns undefined, null, false or an empty string", async () => {
    const answers: unknown[] = [undefined, null, false, "", "ready"];
    let calls = 0;
    const v = await eventually(() => answers[calls++] as string | undefined, 5_000, "the fifth answer", 1);
    expect(v).toBe("ready");
    expect(calls).toBe(5);
  });

  it("returns 0 and other falsy values that are values", async () => {
    expect(await eventually(() => 0, 1_000, "zero", 1)).toBe(0);
    expect(Number.isNaN(await eventually(() => Number.NaN, 1_000, "NaN", 1))).toBe(true);
  });

  it("names what it waited for, and the probe's last error, when the time runs out", async () => {
    await expect(eventually(() => "", 30, "a non-empty line", 1)).rejects.toThrow(/timed out waiting for a non-empty line/);
    await expect(
      eventually(() => {
        throw new Error("store down");
      }, 30, "the agent", 1),
    ).rejects.toThrow(/the agent: Error: store down/);
  });
});
