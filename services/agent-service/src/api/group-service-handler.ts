import type { ServiceImpl } from "@connectrpc/connect";
import { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import type { Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { type Logger, fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { Groups } from "../fleet/groups.js";
import { requestNamespace } from "../fleet/resource-names.js";
import { guarded } from "./connect-errors.js";
import { requesterOf } from "./requested-by.js";

/** The group of a create or update, in the namespace it names (empty: "default"). */
function groupOf(group: Group | undefined): Group {
  if (!group) throw new InvalidRequestError("group is missing");
  group.namespace = requestNamespace(group.namespace);
  return group;
}

/** The Connect face of groups (served by agent-service). Page tokens are the last name of the previous page. */
export function createGroupServiceImpl(groups: Groups, logger: Logger): ServiceImpl<typeof GroupService> {
  const guard = guarded(logger);
  return {
    createGroup: (req, ctx) =>
      guard("CreateGroup", async () => {
        const { group, agentsMoved } = await groups.create(groupOf(req.group), requesterOf(ctx));
        return { group, agentsMoved: BigInt(agentsMoved) };
      }),
    updateGroup: (req, ctx) =>
      guard("UpdateGroup", async () => {
        const { group, agentsMoved } = await groups.update(groupOf(req.group), requesterOf(ctx));
        return { group, agentsMoved: BigInt(agentsMoved) };
      }),
    getGroup: (req) =>
      guard("GetGroup", async () => {
        const namespace = requestNamespace(req.namespace);
        const group = await groups.get(namespace, req.name);
        const [status] = await groups.statuses(namespace, [group]);
        return { group, status };
      }),
    listGroups: (req) =>
      guard("ListGroups", async () => {
        const namespace = requestNamespace(req.namespace);
        const limit = pageLimit(req.pageSize);
        const found = await groups.list(namespace, { limit: fetchLimit(limit), ...(req.pageToken ? { after: req.pageToken } : {}) });
        const { page, nextPageToken } = toPage(found, limit, (last) => last.name);
        const statuses = await groups.statuses(namespace, page);
        return { groups: page.map((group, i) => ({ group, status: statuses[i] })), nextPageToken };
      }),
    previewGroup: (req) =>
      guard("PreviewGroup", async () => {
        const { current, agentsMoved } = await groups.preview(groupOf(req.group), {
          nextVersion: req.nextVersion,
          before: req.before.map((p) => ({ group: groupOf(p.group), nextVersion: p.nextVersion })),
        });
        return { exists: current !== undefined, ...(current ? { current } : {}), agentsMoved: BigInt(agentsMoved) };
      }),
    deleteGroup: (req, ctx) =>
      guard("DeleteGroup", async () => {
        const { agentsMoved } = await groups.delete(requestNamespace(req.namespace), req.name, requesterOf(ctx));
        return { agentsMoved: BigInt(agentsMoved) };
      }),
  };
}
