import { defineConfig } from "vitest/config";

/** npm run mutation: the conformance runner alone, one vitest test per runner test (mutation/). */
export default defineConfig({
  test: {
    include: ["mutation/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    fileParallelism: false,
  },
});
