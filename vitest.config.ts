import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
  resolve: {
    // Tests and examples import the package by its name, from the sources.
    alias: [
      { find: /^effect-jstp\/compat$/, replacement: source("./src/compat/index.ts") },
      { find: /^effect-jstp\/redis$/, replacement: source("./src/compat/redis.ts") },
      { find: /^effect-jstp$/, replacement: source("./src/index.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000
  }
})
