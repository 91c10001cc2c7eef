import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["services/*/src/**/*.spec.ts", "chaos/src/**/*.spec.ts", "test/**/*.spec.ts"],
    // End-to-end tests start real servers and processes: give them room, and
    // run files one at a time on this 2-core machine so timings stay sane.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
