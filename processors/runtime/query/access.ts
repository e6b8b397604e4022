import type http from 'node:http';

/** The engine's listener that a query endpoint forwards to. */
export interface Upstream {
  host: string;
  port: number;
  agent?: http.Agent;
}

/** Who may use AirDig's query endpoints, and as whom they run. */
export interface QueryAccess {
  /** What a client must give as the password of "default" ('' = none). */
  password: string;
  /** The reader's own password in the engine, never shown to clients. */
  readerPassword: string;
  allowsOrigin(origin: string): boolean;
}
