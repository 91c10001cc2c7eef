// @fleetplane/access: who may call what — the method table, roles and role
// bindings, API keys, OIDC tokens, the one admin interceptor, AccessService,
// and the access store's embedded (LMDB) adapter. The MongoDB adapter is at
// "@fleetplane/access/mongo", so the driver loads only when used.
export { METHOD_RULES, ruleOf, isMutation, type MethodRule, type Permission } from "./method-permissions.js";
export { ROLES, PERMISSIONS, grants, isRole, type Role } from "./roles.js";
export { ALL_NAMESPACES, DEFAULT_NAMESPACE, InvalidRoleBindingError, permissionsIn, permits, roleBinding, type RoleBinding } from "./role-bindings.js";
export { IDENTITY, callerMay, callerOf, type Identity } from "./identity.js";
export { API_KEY_PREFIX, generateApiKey, parseApiKey } from "./api-keys.js";
export { ApiKeyNameTakenError, type AccessEventRecord, type AccessRepository, type ApiKeyRecord } from "./access-repository.js";
export { InvalidApiKeyNameError, firstAdminKey, issueApiKey } from "./api-key-issuer.js";
export { createOidcVerifier, InvalidTokenError, type OidcSettings, type OidcVerifier } from "./oidc-verifier.js";
export { createAuthenticator, UnauthenticatedError, type Authenticator } from "./authenticator.js";
export { AccessEvents, type Refusal } from "./access-events.js";
export { adminAuthInterceptor, PEER, type AdminAuthOptions } from "./admin-auth-interceptor.js";
export { createAccessServiceImpl } from "./api/access-service-handler.js";
export { createLmdbAccessRepository } from "./adapters/lmdb-access-repository.js";
