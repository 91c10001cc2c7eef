// @fleetplane/platform-node/nats: the push bus over NATS. Its own entry point,
// imported lazily by the composition, so the NATS client loads only when
// --nats-url is given.
export { createNatsPushBus, pushSubject, type NatsPushBus, type NatsPushBusOptions } from "./nats-push-bus.js";
