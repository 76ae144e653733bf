// Values for property tests of the object-literal format: JSON-like values
// with its awkward corners (nested arrays and objects, holes and undefined
// members), built from the strings, numbers and keys a test chooses. Objects
// have own data properties only, so a "__proto__" key is a member.
import { FastCheck as fc } from "effect"

export const jsonLike = (parts: {
  readonly text: fc.Arbitrary<string>
  readonly number: fc.Arbitrary<number>
  readonly key: fc.Arbitrary<string>
}): fc.Arbitrary<unknown> =>
  fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      parts.text,
      parts.number,
      fc.boolean(),
      fc.constant(null),
      tie("array"),
      tie("sparse"),
      tie("object")
    ),
    member: fc.oneof({ weight: 5, arbitrary: tie("value") }, { weight: 1, arbitrary: fc.constant(undefined) }),
    array: fc.array(tie("member"), { maxLength: 6 }),
    sparse: fc.sparseArray(tie("value"), { maxLength: 6 }),
    object: fc.dictionary(parts.key, tie("member"), { maxKeys: 6, noNullPrototype: true })
  })).value
