/**
 * The default connect policy of 2.x clients: a login handshake when given a
 * login and password (anonymous otherwise), or a session restore.
 *
 * @since 0.1.0
 */

/**
 * What a connect policy needs of a connection.
 *
 * @since 0.1.0
 */
export interface Handshaking {
  handshake(
    app: string | { readonly name: string; readonly version?: string | undefined },
    login: unknown,
    password: string | null | undefined,
    callback: (error: Error | null, session?: unknown) => void
  ): void
}

/**
 * @since 0.1.0
 */
export class SimpleConnectPolicy {
  constructor(readonly login?: string, readonly password?: string) {}

  connect<C extends Handshaking>(
    app: string | { readonly name: string; readonly version?: string | undefined },
    connection: C,
    session: unknown,
    callback: (error: Error | null, connection: C, session?: unknown) => void
  ): void {
    if (session === null || session === undefined) {
      connection.handshake(app, this.login, this.password, (error, newSession) => callback(error, connection, newSession))
    } else {
      connection.handshake(app, session, null, (error) => callback(error, connection))
    }
  }
}
