// Runs a command to completion and gives back what it printed.
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

/** The repository root. */
export const root = fileURLToPath(new URL("../..", import.meta.url))

export interface Output {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `file` with `args` in the repository; `input`, if given, is its stdin. */
export const run = (
  file: string,
  args: ReadonlyArray<string>,
  timeout = 30_000,
  env: Readonly<Record<string, string>> = {},
  input?: string
): Promise<Output> =>
  new Promise((resolve) => {
    const child = execFile(file, args, { cwd: root, timeout, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resolve({ code, stdout, stderr })
    })
    if (input !== undefined) child.stdin?.end(input)
  })
