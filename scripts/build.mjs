// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with
// declarations, and dist/browser/effect-jstp.js: one ES module for browsers
// with no Node built-ins (esbuild refuses any it meets).
// The package is "type": "module", so dist/cjs gets its own package.json
// marking it CommonJS for Node's loader.
import { execFileSync } from "node:child_process"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const require = createRequire(import.meta.url)
const tsc = require.resolve("typescript/bin/tsc")
rmSync("dist", { recursive: true, force: true })
for (const project of ["tsconfig.build.json", "tsconfig.build.cjs.json"]) {
  execFileSync(process.execPath, [tsc, "-p", project], { stdio: "inherit" })
}
mkdirSync("dist/cjs", { recursive: true })
writeFileSync("dist/cjs/package.json", JSON.stringify({ type: "commonjs" }) + "\n")

// In a browser a client dials with the W3C WebSocket (Dial.browser.ts), and
// the facade's EventEmitter is the `events` package.
const browserSwaps = {
  name: "browser-swaps",
  setup(build) {
    build.onResolve({ filter: /\/transport\/Dial\.js$/ }, () => ({
      path: fileURLToPath(new URL("../src/transport/Dial.browser.ts", import.meta.url))
    }))
    build.onResolve({ filter: /^node:events$/ }, () => ({ path: require.resolve("events/") }))
  }
}
await esbuild.build({
  entryPoints: ["src/browser.ts"],
  outfile: "dist/browser/effect-jstp.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  plugins: [browserSwaps],
  logLevel: "warning"
})
