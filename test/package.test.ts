// The built package as users load it: `import` and `require()` on Node, for
// each subpath export. `npm test` builds dist/ first.
import { describe, expect, it } from "@effect/vitest"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { root, run } from "./support/run.js"

const node = (args: ReadonlyArray<string>) => run(process.execPath, args)

describe("the package", () => {
  it("is built", () => {
    expect(existsSync(`${root}/dist/esm/index.js`)).toBe(true)
    expect(existsSync(`${root}/dist/cjs/index.js`)).toBe(true)
    expect(existsSync(`${root}/dist/esm/index.d.ts`)).toBe(true)
  })

  it("shares the application's Effect: effect and @effect/platform(-node) are peer dependencies, and the built code imports nothing else undeclared", () => {
    const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as Record<string, Record<string, string> | undefined> & {
      readonly name: string
    }
    const effects = ["@effect/platform", "@effect/platform-node", "effect"]
    for (const name of effects) {
      expect(pkg["peerDependencies"]?.[name], name).toBeDefined()
      expect(pkg["dependencies"]?.[name], name).toBeUndefined()
      // Our own tests and examples run on the same range.
      expect(pkg["devDependencies"]?.[name], name).toBe(pkg["peerDependencies"]?.[name])
    }
    // Its own name too: Node resolves a package's imports of itself.
    const declared = new Set([
      pkg.name,
      ...Object.keys(pkg["dependencies"] ?? {}),
      ...Object.keys(pkg["peerDependencies"] ?? {})
    ])
    const imported = new Set<string>()
    const scan = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) scan(path)
        else if (entry.name.endsWith(".js")) {
          for (const [, specifier] of readFileSync(path, "utf8").matchAll(/(?:from|import)\s*\(?\s*"([^".][^"]*)"/g)) {
            if (specifier!.startsWith("node:")) continue
            const parts = specifier!.split("/")
            imported.add(specifier!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!)
          }
        }
      }
    }
    scan(`${root}/dist/esm`)
    expect(imported).toContain("effect")
    expect([...imported].filter((name) => !declared.has(name))).toEqual([])
  })

  it("ships the jstp-cli bin: npm pack includes it and the built CLI, and package.json names it", async () => {
    const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as { bin?: Record<string, string> }
    // Also as effect-jstp-cli: 2.x's bin is jstp-cli too, and the package
    // installed last owns that name.
    expect(pkg.bin).toEqual({ "jstp-cli": "./bin/jstp-cli.js", "effect-jstp-cli": "./bin/jstp-cli.js" })
    const packed = await run("npm", ["pack", "--dry-run", "--json"], 60_000)
    expect(packed.code).toBe(0)
    const files = (JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((file) => file.path)
    expect(files).toEqual(expect.arrayContaining(["bin/jstp-cli.js", "dist/esm/cli/main.js"]))
    expect(readFileSync(`${root}/bin/jstp-cli.js`, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true)
    const version = await node([`${root}/bin/jstp-cli.js`, "--version"])
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(`${root}/package.json`, "utf8")).version)
  })

  it("runs as effect-jstp-cli, linked as npm links a bin", async () => {
    const dir = mkdtempSync(join(tmpdir(), "effect-jstp-bin-"))
    try {
      const link = join(dir, "effect-jstp-cli")
      symlinkSync(`${root}/bin/jstp-cli.js`, link)
      const version = await run(link, ["--version"])
      expect(version).toMatchObject({ code: 0, stderr: "" })
      expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(`${root}/package.json`, "utf8")).version)
      const help = await run(link, ["--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("Usage: jstp-cli")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("loads with require()", async () => {
    const program = `
      const { Serde, Framing, Message } = require("effect-jstp")
      const compat = require("effect-jstp/compat")
      const message = Message.deserialize("{call:[1,'i'],m:[2]}")
      console.log(JSON.stringify([Serde.stringify(Serde.parse("[1,,{a:'b'}]")), message._tag, typeof Framing.makeDecoder, compat.ERR_AUTH_FAILED]))`
    const { code, stderr, stdout } = await node(["-e", program])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual([`[1,,{"a":"b"}]`, "Call", "function", 11])
  })

  it("loads with import, including the compat default export", async () => {
    const program = `
      import { Serde, Message } from "effect-jstp"
      import jstp, { ERR_APP_NOT_FOUND } from "effect-jstp/compat"
      console.log(JSON.stringify([Serde.parse("{a:0x10}").a, Message.serialize({ _tag: "Ping", id: 3 }), jstp.ERR_INVALID_SIGNATURE, ERR_APP_NOT_FOUND]))`
    const { code, stderr, stdout } = await node(["--input-type=module", "-e", program])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual([16, `{"ping":[3]}`, 17, 10])
  })

  it("has a browser build with no Node built-ins", async () => {
    const bundle = readFileSync(`${root}/dist/browser/effect-jstp.js`, "utf8")
    // Self-contained: no import statement, no require, no node: specifier left.
    expect(bundle.match(/(?:^|[;}\n])import\s*(?:[\w*{][^;]*?from\s*)?["'][^"']+["']/g) ?? []).toEqual([])
    expect(bundle.match(/\brequire\(["'][^"']+["']\)/g) ?? []).toEqual([])
    expect(bundle.match(/["']node:[a-z_]+["']/g) ?? []).toEqual([])
    // It is an ES module that Node can load too (Node 20 has no global WebSocket: not dialled here).
    const program = `
      import { Connection, Serde, compat, Effect } from "effect-jstp/browser"
      console.log(JSON.stringify([typeof Connection.connect, Serde.stringify({ a: [1, , 2] }), typeof compat.ws.connect, typeof Effect.runPromise]))`
    const { code, stderr, stdout } = await node(["--input-type=module", "-e", program])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual(["function", '{"a":[1,,2]}', "function", "function"])
  })
})
