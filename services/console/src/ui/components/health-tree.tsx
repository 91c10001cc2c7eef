import type { ComponentHealth } from "@fleetplane/gen/opamp/proto/opamp_pb";

/** An agent's ComponentHealth and its sub-components, as nested lists. */
export function HealthTree({ name, health }: { name: string; health: ComponentHealth }) {
  const children = Object.entries(health.componentHealthMap).sort(([a], [b]) => a.localeCompare(b));
  return (
    <li>
      <span class={health.healthy ? "ok" : "bad"}>{health.healthy ? "✓" : "✗"}</span> <strong>{name}</strong>
      {health.status && <span class="muted"> {health.status}</span>}
      {health.lastError && <span class="bad"> — {health.lastError}</span>}
      {children.length > 0 && (
        <ul>
          {children.map(([child, h]) => (
            <HealthTree key={child} name={child} health={h} />
          ))}
        </ul>
      )}
    </li>
  );
}
