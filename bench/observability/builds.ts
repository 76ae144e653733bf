// The two builds the observability benchmark compares: the package bundled
// from src/index.ts as it is, and the same bundle with JSTP_PROBES defined
// false, where every probe site of the engine is dead code and removed
// (src/engine/Probe.ts, `compiledIn`). Both are bundled the same way
// (esbuild, ESM, dependencies external, syntax minified), into
// node_modules/.cache so that their imports of effect resolve as the
// package's do.
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

export type Build = "in" | "out"

const root = fileURLToPath(new URL("../..", import.meta.url))

export const pathOf = (build: Build): string => `${root}node_modules/.cache/bench-observability/${build}/index.js`

/** Builds both; fails if the compiled-out bundle still calls a probe. */
export const buildAll = async (): Promise<void> => {
  for (const build of ["in", "out"] as const) {
    await esbuild.build({
      entryPoints: [`${root}src/index.ts`],
      outfile: pathOf(build),
      bundle: true,
      format: "esm",
      platform: "node",
      target: "es2022",
      packages: "external",
      minifySyntax: true,
      define: build === "out" ? { JSTP_PROBES: "false" } : {},
      logLevel: "warning"
    })
  }
  for (const build of ["in", "out"] as const) {
    const calls = (readFileSync(pathOf(build), "utf8").match(/\.probe\.(received|sent|buffered)\(/g) ?? []).length
    if ((build === "out") !== (calls === 0)) throw new Error(`the ${build} build has ${calls} probe calls`)
  }
}
