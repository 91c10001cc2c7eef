import type * as http from "node:http";
import { describe, expect, it } from "vitest";
import { allowedHostNames, guardBrowserRequest, requestHostName } from "./browser-guard.js";

const request = (headers: Record<string, string>, method = "POST") => ({ headers, method }) as unknown as http.IncomingMessage;

/** A response that records what the guard wrote. */
function response() {
  const out = { status: 0, headers: {} as Record<string, string>, body: "" };
  const res = {
    writeHead: (status: number, headers: Record<string, string>) => ((out.status = status), Object.assign(out.headers, headers)),
    setHeader: (name: string, value: string) => (out.headers[name] = value),
    end: (body: string) => (out.body = body),
  } as unknown as http.ServerResponse;
  return { res, out };
}

const options = { allowedHosts: allowedHostNames(undefined, "127.0.0.1"), allowedOrigins: ["https://ops.example"] };

describe("the browser guard", () => {
  it("reads the host name without port or brackets, from Host or :authority", () => {
    expect(requestHostName(request({ host: "LocalHost:4321" }))).toBe("localhost");
    expect(requestHostName(request({ host: "[::1]:4321" }))).toBe("::1");
    expect(requestHostName(request({ ":authority": "fleet.example" }))).toBe("fleet.example");
  });

  it("allows the public names (default: loopback's) and the listen address unless it is a wildcard", () => {
    expect(allowedHostNames(undefined, "0.0.0.0")).toEqual(["localhost", "127.0.0.1", "::1"]);
    expect(allowedHostNames(["Fleet.Example"], "10.0.0.5")).toEqual(["fleet.example", "10.0.0.5"]);
  });

  it("answers 421 to a foreign Host, 403 to an unlisted Origin, 204 to a listed origin's preflight, and lets the rest through", () => {
    const foreign = response();
    expect(guardBrowserRequest(request({ host: "rebound.example:4321" }), foreign.res, options, "http")).toBe(true);
    expect(foreign.out.status).toBe(421);
    const cross = response();
    expect(guardBrowserRequest(request({ host: "127.0.0.1:4321", origin: "https://evil.example" }), cross.res, options, "http")).toBe(true);
    expect(cross.out.status).toBe(403);
    const preflight = response();
    expect(guardBrowserRequest(request({ host: "127.0.0.1:4321", origin: "https://ops.example" }, "OPTIONS"), preflight.res, options, "http")).toBe(true);
    expect(preflight.out).toMatchObject({ status: 204, headers: { "access-control-allow-origin": "https://ops.example" } });
    const listed = response();
    expect(guardBrowserRequest(request({ host: "127.0.0.1:4321", origin: "https://ops.example" }), listed.res, options, "http")).toBe(false);
    expect(listed.out.headers["access-control-allow-origin"]).toBe("https://ops.example");
    expect(guardBrowserRequest(request({ host: "127.0.0.1:4321", origin: "http://127.0.0.1:4321" }), response().res, options, "http")).toBe(false);
    expect(guardBrowserRequest(request({ host: "localhost:4321" }), response().res, options, "http")).toBe(false);
  });
});
