import { describe, expect, it } from "vitest";
import { InvalidTrustedProxyError, TrustedProxies } from "./trusted-proxies.js";

describe("trusted proxies", () => {
  it("trust nobody by default", () => {
    expect(new TrustedProxies([]).trusts("127.0.0.1")).toBe(false);
  });

  it("trust listed addresses and ranges, IPv4-mapped peers included, and nobody else", () => {
    const proxies = new TrustedProxies(["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
    expect(proxies.trusts("10.1.2.3")).toBe(true);
    expect(proxies.trusts("::ffff:10.1.2.3")).toBe(true);
    expect(proxies.trusts("192.168.1.7")).toBe(true);
    expect(proxies.trusts("fd12::1")).toBe(true);
    expect(proxies.trusts("192.168.1.8")).toBe(false);
    expect(proxies.trusts("11.0.0.1")).toBe(false);
    expect(proxies.trusts(undefined)).toBe(false);
  });

  it("refuse what is no address or range", () => {
    for (const bad of ["proxy.example", "10.0.0.0/33", "10.0.0.1/8/1", ""]) expect(() => new TrustedProxies([bad]), bad).toThrow(InvalidTrustedProxyError);
  });
});
