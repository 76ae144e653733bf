/**
 * Tab completion for jstp-cli: commands, then the schemes of `connect`, and
 * the interfaces and methods the server offered (from inspect) for `call`
 * and `event`.
 *
 * @since 0.1.0
 */
import { NAMES, resolveName, SCHEMES } from "./Command.js"

/**
 * What the connected server offers: its interfaces and their methods.
 *
 * @since 0.1.0
 */
export type Api = ReadonlyMap<string, ReadonlyArray<string>>

// A single word that completes is followed by a space, ready for the next.
const startingWith = (candidates: Iterable<string>, prefix: string, space = true) => {
  const matches = [...candidates].filter((candidate) => candidate.startsWith(prefix)).sort()
  return matches.length === 1 && space ? [`${matches[0]} `] : matches
}

/**
 * Readline's completer: the completions of the word being typed, and that
 * word.
 *
 * @since 0.1.0
 */
export const complete = (line: string, api: Api): [Array<string>, string] => {
  const parts = line.trimStart().split(/\s+/)
  const current = parts[parts.length - 1] ?? ""
  if (parts.length === 1) return [startingWith(NAMES, current), current]
  const command = resolveName(parts[0]!)
  switch (command) {
    case "connect":
      return parts.length === 2 && !current.includes("://")
        ? [startingWith(SCHEMES.map((scheme) => `${scheme}://`), current, false), current]
        : [[], current]
    case "call":
    case "event":
      if (parts.length === 2) return [startingWith(api.keys(), current), current]
      if (parts.length === 3 && command === "call") return [startingWith(api.get(parts[1]!) ?? [], current), current]
      return [[], current]
    default:
      return [[], current]
  }
}
