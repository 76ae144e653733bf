// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with declarations.
// The package is "type": "module", so dist/cjs gets its own package.json
// marking it CommonJS for Node's loader.
import { execFileSync } from "node:child_process"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
rmSync("dist", { recursive: true, force: true })
for (const project of ["tsconfig.build.json", "tsconfig.build.cjs.json"]) {
  execFileSync(process.execPath, [tsc, "-p", project], { stdio: "inherit" })
}
mkdirSync("dist/cjs", { recursive: true })
writeFileSync("dist/cjs/package.json", JSON.stringify({ type: "commonjs" }) + "\n")
