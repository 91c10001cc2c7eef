import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, fetchLimit, pageLimit, toPage } from "./paging.js";

describe("paging", () => {
  it("uses the default for 0 and caps large sizes", () => {
    expect(pageLimit(0)).toBe(DEFAULT_PAGE_SIZE);
    expect(pageLimit(7)).toBe(7);
    expect(pageLimit(MAX_PAGE_SIZE + 5)).toBe(MAX_PAGE_SIZE);
  });

  it("asks for one more than it shows and gives a token only when more exist", () => {
    expect(fetchLimit(3)).toBe(4);
    expect(toPage([1, 2, 3, 4], 3, String)).toEqual({ page: [1, 2, 3], nextPageToken: "3" });
    expect(toPage([1, 2, 3], 3, String)).toEqual({ page: [1, 2, 3], nextPageToken: "" });
    expect(toPage([], 3, String)).toEqual({ page: [], nextPageToken: "" });
  });
});
