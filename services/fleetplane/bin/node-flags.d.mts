/** Types of node-flags.mjs (the launcher's plain JavaScript). */
export declare const AGENT_SERVICE_SEMI_SPACE_MB: number;
export declare function nodeFlagsFor(command: string | undefined, execArgv?: readonly string[], nodeOptions?: string | undefined): string[];
