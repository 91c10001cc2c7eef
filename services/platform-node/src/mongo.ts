// @fleetplane/platform-node/mongo: the MongoDB connection and the rules every
// MongoDB adapter shares. Its own entry point, imported lazily by the
// composition, so the mongodb driver loads only when --mongo-url is given.
export { filterWhile, guardsHold, updateByIdOp, updateByIdWhile, type GuardedWrite, type WriteGuard } from "./mongo-guarded-write.js";
export { connectMongo, guardMongo, bytesOfBinary, upsertWithRetry, isDuplicateKey, dropIndexesIfPresent, createNamedIndexes, isIndexNotFound, isNamespaceNotFound, type MongoStore, type NamedIndex, type MongoServer, type ConnectMongoOptions } from "./mongo-store.js";
