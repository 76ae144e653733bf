// Tools some tests need from outside npm (Chromium, util-linux's `script`):
// found on the machine, or installed from Debian's packages when the test
// run is root with apt (as CI is). Where a tool cannot be had, its tests are
// skipped with the reason in their name (the summary line lists them), or,
// with JSTP_REQUIRE_EXTERNAL=1 (set by .ci/run), fail with it: CI never
// passes without them.
import { it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"

/** A tool found (its path), or why not. */
export type Found = { readonly path: string } | { readonly missing: string }

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const onPath = (name: string): string | undefined =>
  (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, name)).find(executable)

const canInstall = (): boolean =>
  process.platform === "linux" && process.getuid?.() === 0 && onPath("apt-get") !== undefined

const installed = new Set<string>()

const aptInstall = (pkg: string): string | undefined => {
  if (installed.has(pkg)) return undefined
  installed.add(pkg)
  try {
    const options = { stdio: "ignore", timeout: 15 * 60_000, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } } as const
    execFileSync("apt-get", ["update"], options)
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", pkg], options)
    return undefined
  } catch (error) {
    return `installing the Debian package ${pkg} failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`
  }
}

/**
 * Finds `name`: `envVar`'s path if set, else `paths`, else on PATH; if none
 * is there and the run is root with apt, installs the Debian package `pkg`
 * and looks again.
 */
export const findTool = (options: {
  readonly name: string
  readonly envVar?: string
  readonly paths?: ReadonlyArray<string>
  readonly pkg: string
}): Found => {
  const given = options.envVar === undefined ? undefined : process.env[options.envVar]
  if (given !== undefined && given !== "") {
    return executable(given) ? { path: given } : { missing: `${options.envVar}=${given} is not an executable` }
  }
  const look = () => [...(options.paths ?? [])].find(executable) ?? onPath(options.name)
  const found = look()
  if (found !== undefined) return { path: found }
  const hint = `${options.name} not found${options.envVar === undefined ? "" : ` (set ${options.envVar})`}`
  if (!canInstall()) return { missing: `${hint}; install Debian's ${options.pkg} (not root with apt here)` }
  const failure = aptInstall(options.pkg)
  const after = failure === undefined ? look() : undefined
  return after !== undefined ? { path: after } : { missing: failure ?? `${hint} after installing ${options.pkg}` }
}

/** Whether a skipped test must fail instead (CI). */
export const requireExternal = process.env.JSTP_REQUIRE_EXTERNAL === "1"

/**
 * Defines a test that needs `tool` with `define(name)` (any `it` variant)
 * when the tool is there; otherwise the test is skipped with the reason in
 * its name, or fails with it when external tools are required.
 */
export const withTool = (tool: Found, name: string, define: (name: string) => void): void => {
  if ("path" in tool) return define(name)
  if (requireExternal) {
    return void it(name, () => {
      throw new Error(`${tool.missing} (JSTP_REQUIRE_EXTERNAL=1: this test may not be skipped)`)
    })
  }
  it.skip(`${name} [skipped: ${tool.missing}]`, () => {})
}
