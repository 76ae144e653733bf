/**
 * Choosing an application by version (protocol.md §5), for servers.
 *
 * @since 0.1.0
 */
import semver from "semver"

/**
 * Splits `name@version` at the last `@`.
 *
 * @since 0.1.0
 */
export const splitName = (spec: string): readonly [name: string, version: string | undefined] => {
  const at = spec.lastIndexOf("@")
  return at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, undefined]
}

/**
 * The application a client asks for, from `'name'`, `'name@range'` or
 * `{ name, version }`; undefined if the range is not a valid semver range
 * (refused before anything is sent).
 *
 * @since 0.1.0
 */
export const target = (
  spec: string | { readonly name: string; readonly version?: string | undefined }
): { readonly name: string; readonly version: string | undefined } | undefined => {
  const [name, given] = typeof spec === "string" ? splitName(spec) : [spec.name, spec.version]
  const version = given === "" ? undefined : given
  return version !== undefined && semver.validRange(version) === null ? undefined : { name, version }
}

/**
 * Applications by name, each list sorted from the highest version down.
 *
 * @since 0.1.0
 */
export type Index<A extends { readonly version: string }> = ReadonlyMap<string, ReadonlyArray<A>>

/**
 * Indexes applications by name, highest version first. `duplicate` is
 * called for a second application with the same name and version.
 *
 * @since 0.1.0
 */
export const makeIndex = <A extends { readonly name: string; readonly version: string }>(
  applications: Iterable<A>,
  duplicate: (application: A) => never
): Map<string, Array<A>> => {
  const index = new Map<string, Array<A>>()
  for (const application of applications) {
    const versions = index.get(application.name) ?? []
    if (versions.some((other) => other.version === application.version)) duplicate(application)
    versions.push(application)
    index.set(application.name, versions)
  }
  for (const versions of index.values()) versions.sort((a, b) => semver.rcompare(a.version, b.version))
  return index
}

/**
 * The application a handshake asks for: no version, the highest; an exact
 * version, that one; a range, the highest in it.
 *
 * @since 0.1.0
 */
export const select = <A extends { readonly version: string }>(
  index: Index<A>,
  name: string,
  version: string | undefined
): A | undefined => {
  const versions = index.get(name)
  if (versions === undefined) return undefined
  if (version === undefined || version === "") return versions[0]
  if (semver.valid(version) !== null) return versions.find((application) => application.version === version)
  let range: semver.Range
  try {
    range = new semver.Range(version)
  } catch {
    return undefined
  }
  return versions.find((application) => range.test(application.version))
}

/**
 * What a connection asked for, to move it later: the range, or for no
 * version the major version it was given.
 *
 * @since 0.1.0
 */
export const requested = (version: string | undefined, given: string): string =>
  version === undefined || version === "" ? String(semver.major(given)) : version

/**
 * `updateConnectionsApi` for one connection: the application it moves to,
 * or undefined if it stays (it asked for an exact version, or nothing newer
 * is in its range).
 *
 * @since 0.1.0
 */
export const upgrade = <A extends { readonly version: string }>(
  index: Index<A>,
  name: string,
  requestedVersion: string,
  currentVersion: string
): A | undefined => {
  if (semver.valid(requestedVersion) !== null) return undefined
  const next = select(index, name, requestedVersion)
  return next === undefined || next.version === currentVersion ? undefined : next
}
