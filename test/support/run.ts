// Runs a command to completion and gives back what it printed.
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

/** The repository root. */
export const root = fileURLToPath(new URL("../..", import.meta.url))

/** The tsx binary, to run TypeScript examples as `npm start` does. */
export const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url))

export interface Output {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export const run = (file: string, args: ReadonlyArray<string>, timeout = 30_000): Promise<Output> =>
  new Promise((resolve) => {
    execFile(file, args, { cwd: root, timeout }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resolve({ code, stdout, stderr })
    })
  })
