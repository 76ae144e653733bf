/**
 * `effect-jstp/redis`: the facade's session storage provider in Redis (see
 * `RedisSessionStorageProvider`), apart from `effect-jstp/compat`, whose keys
 * are 2.x's.
 *
 * @since 0.1.0
 */
export { RedisSessionStorageProvider, type RedisSessionStorageProviderOptions } from "./RedisSessionStorageProvider.js"
