/**
 * The chaos proxy in a process of its own (forked by soak/index.ts), so
 * that relaying takes no CPU from the clients or the server.
 */
import { serve } from "./ipc.js"
import type { ProxyMethods } from "./protocol.js"
import { ChaosProxy } from "./proxy.js"

const proxy = new ChaosProxy()

serve<ProxyMethods>({
  addLane: (options) => proxy.addLane(options),
  chaos: (options) => proxy.setChaos(options ?? undefined),
  stall: ({ lane, stall }) => proxy.stall(lane, stall),
  unstall: ({ lane }) => proxy.unstall(lane),
  stats: () => proxy.stats(),
  close: () => proxy.close()
})
