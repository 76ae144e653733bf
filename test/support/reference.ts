// The reference implementation's serializer, mdsf@1.1.1. Its native addon is
// not built here, so it uses its JavaScript parser (as on Node 20 in the
// field) and warns about that on load; the warning is noise in test output.
import { createRequire } from "node:module"

interface Mdsf {
  readonly parse: (text: string) => unknown
  readonly stringify: (value: unknown) => string
}

const require = createRequire(import.meta.url)

/** Runs `load` with console.warn silenced (the reference warns on load). */
export const quietly = <A>(load: () => A): A => {
  const warn = console.warn
  console.warn = () => {}
  try {
    return load()
  } finally {
    console.warn = warn
  }
}

/** mdsf, the reference's object-literal serializer. */
export const mdsf: Mdsf = quietly(() => require("mdsf") as Mdsf)
