// @fleetplane/access: who may call what.
export { METHOD_RULES, ruleOf, type MethodRule, type Permission } from "./method-permissions.js";
export { ROLES, grants, isRole, type Role } from "./roles.js";
