import { describe, expect, it } from "vitest";
import { ExternalMongoUrlError, parseStoreUrl, useExternalMongo, withDatabase } from "./external-mongo.js";

describe("an external MongoDB store URL", () => {
  it("gets the fresh database as its path, with or without a trailing slash, its options kept", () => {
    expect(withDatabase("mongodb://127.0.0.1:27018/", "run1")).toBe("mongodb://127.0.0.1:27018/run1");
    expect(withDatabase("mongodb://127.0.0.1:27018", "run1")).toBe("mongodb://127.0.0.1:27018/run1");
    expect(withDatabase("mongodb://u:p@a:1,b:2/?replicaSet=rs0", "run1")).toBe("mongodb://u:p@a:1,b:2/run1?replicaSet=rs0");
    expect(withDatabase("mongodb+srv://cluster.example.test/?tls=true", "run1")).toBe("mongodb+srv://cluster.example.test/run1?tls=true");
  });

  it("is refused, naming the option, when it names a database or is not a mongodb:// URL", () => {
    const refused = (url: string) => {
      try {
        parseStoreUrl(url, "--mongo-url");
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const named = refused("mongodb://127.0.0.1:27018/fleetplane");
    expect(named).toBeInstanceOf(ExternalMongoUrlError);
    expect((named as ExternalMongoUrlError).option).toBe("--mongo-url");
    expect((named as Error).message).toContain('"fleetplane"');
    expect(refused("postgres://127.0.0.1:5432/")).toBeInstanceOf(ExternalMongoUrlError);
    expect(refused("127.0.0.1:27018")).toBeInstanceOf(ExternalMongoUrlError);
  });

  it("that does not answer is refused before anything starts on it", async () => {
    // Port 1 on loopback: nothing listens there, so the ping fails fast (connection refused).
    await expect(useExternalMongo("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500")).rejects.toBeInstanceOf(ExternalMongoUrlError);
  });
});
