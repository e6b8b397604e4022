/**
 * The web view's way to AirDig's graph API on the page's own origin: queries as GraphQL-over-HTTP
 * POSTs to /graphql, subscriptions over WebSocket (graphql-ws, subprotocol graphql-transport-ws) on
 * the same path. Without a token first; when the API answers 401 (or closes the socket as
 * forbidden) the person is asked for one, which is kept in sessionStorage and sent as
 * `Authorization: Bearer …` on HTTP and as connectionParams.authorization on the socket.
 */
import { createClient, type Client } from 'graphql-ws';

const TOKEN_KEY = 'airdig.token';
const ENDPOINT = '/graphql';
/** graphql-ws's close codes for refused connection params. */
const UNAUTHORIZED = 4401;
const FORBIDDEN = 4403;

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

type TokenPrompt = (reason: string) => Promise<string>;

interface Subscription {
  query: string;
  variables: Record<string, unknown>;
  next: (data: unknown) => void;
}

export class Api {
  #askToken: TokenPrompt;
  #asking: Promise<string> | undefined;
  #socket: Client | undefined;
  #subscriptions: Subscription[] = [];
  #generation = 0;
  #onSocketState: (state: 'connecting' | 'live' | 'offline') => void;

  constructor(askToken: TokenPrompt, onSocketState: (state: 'connecting' | 'live' | 'offline') => void) {
    this.#askToken = askToken;
    this.#onSocketState = onSocketState;
  }

  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  /** Runs a query; on 401 asks for a token once per refusal and tries again. */
  async query<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    for (;;) {
      const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
      const token = this.token;
      if (token) headers.authorization = `Bearer ${token}`;
      const response = await fetch(ENDPOINT, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      if (response.status === 401) {
        await this.#newToken(token ? 'The API refused that token.' : 'The API asks for a token.');
        continue;
      }
      let body: { data?: T; errors?: { message: string }[] };
      try {
        body = await response.json();
      } catch {
        throw new ApiError(`the API answered ${response.status} without a GraphQL response`, response.status);
      }
      if (body.errors?.length) throw new ApiError(body.errors.map((e) => e.message).join('; '), response.status);
      if (!body.data) throw new ApiError(`the API answered ${response.status} without data`, response.status);
      return body.data;
    }
  }

  /** Subscribes; next() gets each event's data. Kept across reconnections and a new token. */
  subscribe<T>(query: string, variables: Record<string, unknown>, next: (data: T) => void): void {
    const subscription: Subscription = { query, variables, next: next as (data: unknown) => void };
    this.#subscriptions.push(subscription);
    this.#start(subscription);
  }

  #start(subscription: Subscription): void {
    this.#client().subscribe(
      { query: subscription.query, variables: subscription.variables },
      {
        next: (result) => {
          if (result.data) subscription.next(result.data);
        },
        // A refused socket is handled in `closed`; other errors end only this subscription.
        error: () => undefined,
        complete: () => undefined,
      },
    );
  }

  #client(): Client {
    if (this.#socket) return this.#socket;
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${ENDPOINT}`;
    // Events of a client given up on are not this one's (lazy: false connects inside createClient).
    const generation = ++this.#generation;
    const current = () => generation === this.#generation;
    this.#socket = createClient({
      url,
      lazy: false,
      retryAttempts: Number.MAX_SAFE_INTEGER,
      shouldRetry: () => true,
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(1_000 * 2 ** retries, 10_000))),
      // Read at every (re)connection: a token typed in meanwhile is used by the next attempt.
      connectionParams: () => {
        const token = this.token;
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      on: {
        connecting: () => current() && this.#onSocketState('connecting'),
        connected: () => current() && this.#onSocketState('live'),
        closed: (event) => {
          if (!current()) return;
          this.#onSocketState('offline');
          const code = (event as CloseEvent | undefined)?.code;
          // 4403 (forbidden) is retried by graphql-ws itself, with the connection params read again;
          // 4401 (unauthorized) ends the client, so a new one takes the subscriptions over.
          if (code === FORBIDDEN) void this.#newToken(this.#refusal()).catch(() => undefined);
          if (code === UNAUTHORIZED) void this.#reconnectWithNewToken();
        },
      },
    });
    return this.#socket;
  }

  #refusal(): string {
    return this.token ? 'The live updates refused that token.' : 'The live updates ask for a token.';
  }

  async #reconnectWithNewToken(): Promise<void> {
    await this.#newToken(this.#refusal());
    this.#socket = undefined;
    this.#generation++;
    for (const subscription of this.#subscriptions) this.#start(subscription);
  }

  async #newToken(reason: string): Promise<void> {
    // One prompt however many requests were refused at once.
    this.#asking ??= this.#askToken(reason).finally(() => (this.#asking = undefined));
    const token = await this.#asking;
    sessionStorage.setItem(TOKEN_KEY, token);
  }
}
