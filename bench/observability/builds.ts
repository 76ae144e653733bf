// The two builds the observability benchmark compares: the package bundled
// from src/index.ts as it is, and the same bundle with JSTP_PROBES defined
// false, where every instrumentation site is dead code and removed
// (src/wire/internal/instrumentation.ts, `compiledIn`); each with the
// engine-only pair of ./engine.ts beside it. Both are bundled the same way
// (esbuild, ESM, dependencies external, syntax minified), into
// node_modules/.cache so that their imports of effect resolve as the
// package's do.
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

export type Build = "in" | "out"

const root = fileURLToPath(new URL("../..", import.meta.url))

export const pathOf = (build: Build, entry: "index" | "engine" = "index"): string =>
  `${root}node_modules/.cache/bench-observability/${build}/${entry}.js`

/** Builds both; fails if the compiled-out bundle still calls a probe. */
export const buildAll = async (): Promise<void> => {
  for (const build of ["in", "out"] as const) {
    await esbuild.build({
      entryPoints: { index: `${root}src/index.ts`, engine: `${root}bench/observability/engine.ts` },
      outdir: `${root}node_modules/.cache/bench-observability/${build}`,
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
    for (const entry of ["index", "engine"] as const) {
      const calls = (readFileSync(pathOf(build, entry), "utf8").match(/\.probe\.(received|sent|buffered)\(/g) ?? []).length
      if ((build === "out") !== (calls === 0)) throw new Error(`the ${build} build's ${entry}.js has ${calls} probe calls`)
    }
  }
}
