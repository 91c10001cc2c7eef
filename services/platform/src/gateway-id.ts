/**
 * Gateway ids become one NATS subject token (the push bus's subject per
 * gateway), so they must be plain tokens. Checked where a gateway gets its id,
 * before any bus is chosen, so a bad id fails the same with or without NATS.
 */
const GATEWAY_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function assertGatewayId(gatewayId: string): string {
  if (!GATEWAY_ID.test(gatewayId)) {
    throw new Error(`gateway id "${gatewayId}" must be 1-128 letters, digits, "_" or "-" (it names a NATS subject)`);
  }
  return gatewayId;
}
