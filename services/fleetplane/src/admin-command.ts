import { ApiKeyNameTakenError, InvalidApiKeyNameError, InvalidRoleBindingError, issueApiKey } from "@fleetplane/access";
import { formatHelp, parseOptions, UsageError } from "@fleetplane/platform";
import { createLogger } from "@fleetplane/platform-node";
import { CREATE_KEY_OPTIONS } from "./command-options.js";
import { openStores } from "./stores.js";

const USAGE = `fleetplane admin <subcommand> [options]

Subcommands:
  create-key   Make an API key in the server's store and print it once

Run "fleetplane admin create-key --help" for its options.`;

/**
 * `fleetplane admin create-key`: the way to the first admin key (and a way
 * back in after losing every admin key). It writes to the store directly —
 * whoever can run it on the server's store owns the server anyway — and
 * never goes through an unauthenticated RPC. The key goes to stdout only.
 */
export async function runAdminCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "create-key") {
    process.stdout.write(USAGE + "\n");
    return sub === undefined || sub === "help" || sub === "--help" || sub === "-h" ? 0 : 2;
  }
  const { values, help } = parseOptions(CREATE_KEY_OPTIONS, rest);
  if (help) {
    process.stdout.write(formatHelp("fleetplane admin create-key --name <name> [--role admin] [--data-dir <dir> | --mongo-url <url>]", "Makes an API key in the server's store and prints it once.", CREATE_KEY_OPTIONS));
    return 0;
  }
  if (values.name === undefined) throw new UsageError("--name is needed (the key's identity is key:<name>)");
  const logger = createLogger("fleetplane-admin", String(values["log-level"]));
  const stores = await openStores({ dataDir: String(values["data-dir"]), mongoUrl: values["mongo-url"] === undefined ? undefined : String(values["mongo-url"]), logger });
  try {
    const { record, key } = await issueApiKey(stores.access, { name: String(values.name), role: String(values.role), namespace: String(values.namespace), createdBy: "cli" });
    process.stderr.write(`API key "${record.name}" (id ${record.id}, role ${String(values.role)} in ${String(values.namespace) === "*" ? "every namespace" : `namespace ${String(values.namespace)}`}); shown once:\n`);
    process.stdout.write(`${key}\n`);
    return 0;
  } catch (err) {
    if (err instanceof InvalidApiKeyNameError || err instanceof InvalidRoleBindingError || err instanceof ApiKeyNameTakenError) throw new UsageError(err.message);
    throw err;
  } finally {
    await stores.close();
  }
}
