/** The connection a channel event is about. */
export interface ActiveConnection {
  readonly id: string;
  /** Set once the connection is authenticated, which every channel event comes after. */
  readonly user: string | undefined;
}

/**
 * Told whenever a connection starts or stops receiving a channel: the channels granted at auth
 * once `ready` is sent, a subscribed channel once `subscribed` is sent, and each of them when it is
 * unsubscribed, taken away or the connection closes. Every `joined` is followed by one `left`.
 * Called synchronously, from the connection's own handling: a listener must not throw or block.
 */
export interface ChannelActivity {
  joined(connection: ActiveConnection, channel: string): void;
  left(connection: ActiveConnection, channel: string): void;
}
