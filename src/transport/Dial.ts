/**
 * How a client dials an address on Node: every transport of `Net`. The
 * browser build puts `Dial.browser.ts` in this module's place.
 *
 * @since 0.1.0
 */
export {
  /** @since 0.1.0 */
  open
} from "./Net.js"
