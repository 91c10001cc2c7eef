// @fleetplane/access/mongo: the MongoDB adapter of the access store, its own
// entry point so the driver loads only when --mongo-url is given.
export { createMongoAccessRepository, ensureAccessIndexes } from "./adapters/mongo-access-repository.js";
