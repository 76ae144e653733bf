// The benchmarks measure the package as it is built (dist/esm, what an
// application that installs effect-jstp runs), not src through tsx: tsx's
// transform keeps function names (esbuild's keepNames), which adds an
// Object.defineProperty to every named closure a hot path makes. `npm run
// bench` builds first and points tsx at bench/tsconfig.json, whose lack of
// `paths` lets "effect-jstp" resolve through package.json to dist; modules
// the package does not export are loaded from dist with this.
export const built = <M>(path: string): Promise<M> =>
  import(new URL(`../dist/esm/${path}`, import.meta.url).href) as Promise<M>
