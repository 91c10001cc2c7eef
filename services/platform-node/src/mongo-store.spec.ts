import { MongoNetworkError, MongoServerError } from "mongodb";
import { describe, expect, it } from "vitest";
import { DependencyUnavailableError } from "@fleetplane/platform";
import { guardMongo, mongoUnavailable } from "./mongo-store.js";

// What the store's errors become for the caller: "unavailable, retry later"
// (an agent gets UNAVAILABLE with a retry delay, an admin Connect Unavailable)
// or the error itself (answered as internal). Told by class, code and label,
// never by message text.
describe("mongoUnavailable", () => {
  it("takes FerretDB's backend failure (InternalError, code 1: SQLite busy, PostgreSQL gone) for a passing outage", () => {
    expect(mongoUnavailable(new MongoServerError({ code: 1, errmsg: "database is locked" }))).toBe(true);
  });

  it("takes a server error the server labels retryable for a passing outage", () => {
    expect(mongoUnavailable(new MongoServerError({ code: 9999, errmsg: "x", errorLabels: ["RetryableWriteError"] }))).toBe(true);
    expect(mongoUnavailable(new MongoServerError({ code: 9999, errmsg: "x", errorLabels: ["TransientTransactionError"] }))).toBe(true);
  });

  it("takes network failures and a primary stepping down for a passing outage", () => {
    expect(mongoUnavailable(new MongoNetworkError("connection reset"))).toBe(true);
    expect(mongoUnavailable(new MongoServerError({ code: 189, errmsg: "stepped down" }))).toBe(true);
  });

  it("leaves errors about the request itself as they are", () => {
    expect(mongoUnavailable(new MongoServerError({ code: 11000, errmsg: "E11000 duplicate key" }))).toBe(false);
    expect(mongoUnavailable(new MongoServerError({ code: 2, errmsg: "bad value" }))).toBe(false);
    expect(mongoUnavailable(new TypeError("not a store error"))).toBe(false);
  });
});

describe("guardMongo", () => {
  it("rethrows a passing outage as DependencyUnavailableError and anything else unchanged", async () => {
    await expect(guardMongo(() => Promise.reject(new MongoServerError({ code: 1, errmsg: "database is locked" })))).rejects.toBeInstanceOf(DependencyUnavailableError);
    const duplicate = new MongoServerError({ code: 11000, errmsg: "E11000" });
    await expect(guardMongo(() => Promise.reject(duplicate))).rejects.toBe(duplicate);
  });
});
