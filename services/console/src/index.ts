// @fleetplane/console: the web console, served beside the admin API by the
// handler made here (the browser app under ui/ is bundled on first request).
export { createConsoleHandler, type ConsoleHandlerOptions } from "./console-handler.js";
