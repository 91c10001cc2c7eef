import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { envName } from "@fleetplane/platform";
import { COMMAND_OPTIONS } from "@fleetplane/server";

const COMPOSE = readFileSync(join(import.meta.dirname, "..", "compose.yaml"), "utf8");

/** Each Fleetplane service of compose.yaml: its command and its text (commented lines included). */
function fleetplaneServices(): { name: string; command: string; text: string }[] {
  const services = COMPOSE.slice(COMPOSE.indexOf("\nservices:\n"), COMPOSE.indexOf("\nvolumes:\n"));
  return services
    .split(/^(?=  [a-z][a-z-]*:$)/m)
    .map((text) => ({ name: /^  ([a-z-]+):$/m.exec(text)?.[1] ?? "", command: /command: \["([a-z-]+)"/.exec(text)?.[1] ?? "", text }))
    .filter((s) => s.command in COMMAND_OPTIONS);
}

describe("compose.yaml", () => {
  it("sets (or shows in comments) only FLEETPLANE_* variables that each service's command accepts", () => {
    const services = fleetplaneServices();
    expect(services.map((s) => s.name).sort()).toEqual(["agent-service", "command-service", "gateway-a", "gateway-b"]);
    for (const { name, command, text } of services) {
      const accepted = new Set(COMMAND_OPTIONS[command as keyof typeof COMMAND_OPTIONS].map((o) => envName(o.name)));
      const used = [...text.matchAll(/\b(FLEETPLANE_[A-Z0-9_]+)\b/g)].map((m) => m[1]);
      expect(used.filter((e) => !accepted.has(e!)), `${name}: variables ${command} does not accept`).toEqual([]);
    }
  });

  it("has the gateways, and the Dockerfile's standalone, ask agents for an enrollment token", () => {
    expect(COMPOSE).toMatch(/^      FLEETPLANE_AGENT_AUTH: token$/m);
    const dockerfile = readFileSync(join(import.meta.dirname, "..", "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^CMD \[.*"--agent-auth", "token"\]$/m);
  });

  it("shows the gateways' OpAMP TLS, client CA (mTLS) and trusted proxies, each with its mounted file", () => {
    for (const name of ["FLEETPLANE_TLS_CERT", "FLEETPLANE_TLS_KEY", "FLEETPLANE_AGENT_CLIENT_CA", "FLEETPLANE_TRUSTED_PROXIES"]) expect(COMPOSE).toMatch(new RegExp(`^      # ${name}: `, "m"));
    for (const gateway of fleetplaneServices().filter((s) => s.command === "gateway")) {
      expect(gateway.text, gateway.name).toContain("# - ./opamp-tls:/etc/fleetplane/opamp-tls:ro");
      expect(gateway.text, gateway.name).toContain("# - ./csr-ca/ca.crt:/etc/fleetplane/csr-ca/ca.crt:ro");
    }
  });

  it("shows TLS between the services (each listener's certificate, each caller's CA, the mounted files) and the console's OIDC sign-in", () => {
    const byName = new Map(fleetplaneServices().map((s) => [s.name, s.text]));
    const shows = (name: string, variable: string) => expect(byName.get(name), `${name}: ${variable}`).toMatch(new RegExp(`^      # ${variable}: /etc/fleetplane/internal-tls/`, "m"));
    for (const listener of ["command-service", "agent-service"]) for (const v of ["FLEETPLANE_INTERNAL_TLS_CERT", "FLEETPLANE_INTERNAL_TLS_KEY"]) shows(listener, v);
    for (const caller of ["agent-service", "gateway-a"]) shows(caller, "FLEETPLANE_INTERNAL_TLS_CA");
    for (const [name, text] of byName) expect(text, name).toContain("# - ./internal-tls:/etc/fleetplane/internal-tls:ro");
    expect(byName.get("agent-service")).toMatch(/^      # FLEETPLANE_OIDC_CONSOLE_CLIENT_ID: /m);
  });

  it("runs the image's commands through fleetplane's launcher, so each gets its node flags (agent-service's young generation)", () => {
    const dockerfile = readFileSync(join(import.meta.dirname, "..", "Dockerfile"), "utf8");
    const entrypoint = /^ENTRYPOINT \[(.*)\]$/m.exec(dockerfile)?.[1];
    expect(entrypoint).toBe('"node", "services/fleetplane/bin/fleetplane.mjs"');
    expect(existsSync(join(import.meta.dirname, "..", "services/fleetplane/bin/fleetplane.mjs"))).toBe(true);
    expect(COMPOSE).not.toContain("src/main.ts");
  });

  it("names no removed option", () => {
    expect(COMPOSE).not.toMatch(/heartbeat-timeout-seconds|http-agent-timeout-seconds|HEARTBEAT_TIMEOUT_SECONDS|HTTP_AGENT_TIMEOUT_SECONDS/);
  });
});
