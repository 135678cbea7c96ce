
// ---- The client (the same for every protocol; what is above is this protocol's). ----

/** Where the connection is: `connecting` (first attempt), `open`, `reconnecting` (waiting for
 * or making another attempt), `closed` (by `close()`, or given up: no more attempts). */
export type Status = "connecting" | "open" | "reconnecting" | "closed";

/** What came with a status change. */
export interface StatusDetail {
  /** The attempt being waited for (`reconnecting`), or the attempts made (`closed`); 0 when open. */
  attempt: number;
  /** `open`: whether this is a reconnection. Rooms joined with a stream-joining message (see
   * {@link ConnectOptions.onResume}) are joined again by the client; others are the app's to
   * join again. */
  reconnected?: boolean;
  /** `open`: the stream rooms the client has just joined on this connection (again, with
   * `since`, where it had a position; on the first open, those joined while connecting), before
   * anything sent in `onStatus` and before the queue. */
  resuming?: string[];
  /** `reconnecting`: milliseconds until the attempt. */
  delay?: number;
  /** The close code of the connection that ended. */
  code?: number;
  /** The close reason of the connection that ended. */
  reason?: string;
}

/** Reconnection with exponential backoff and jitter: attempt n waits a random time between half
 * and all of `min(maxDelay, minDelay * 2^(n-1))`. */
export interface ReconnectOptions {
  /** The first delay's upper bound, ms (default 500). */
  minDelay?: number;
  /** No delay is longer, ms (default 30 000). */
  maxDelay?: number;
  /** Give up (status `closed`) after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
}

/** A frame that was not delivered to any handler: not JSON, not an object, of unknown type, or
 * (with `validate`) not matching its message's schema. */
export interface InvalidFrame {
  /** The frame as received (a string, or binary data). */
  data: unknown;
  /** Why it was refused. */
  reason: string;
  /** JSON Pointer to the part at fault ("" for the whole frame). */
  pointer: string;
}

/** The part of the WebSocket interface the client uses (browsers' and the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `ws`'s in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of {@link connect}; every one has a default. */
export interface ConnectOptions {
  /** The WebSocket implementation (default `globalThis.WebSocket`). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect after the connection is lost (default on); `false` to stop at the first close. */
  reconnect?: boolean | ReconnectOptions;
  /** How long a request waits for its reply, ms (default 10 000). */
  requestTimeout?: number;
  /** How many sends may wait while disconnected (default 100); one more throws
   * {@link ClientError} `queue_full`. */
  queueLimit?: number;
  /** Check every incoming frame against its message's schema (default on); one that fails goes
   * to `onInvalid`, never to a handler. */
  validate?: boolean;
  /** Every status change. Sends made here on `open` go out after the client's own re-joins of
   * stream rooms and before the queued ones, so this is where to join other rooms again. */
  onStatus?: (status: Status, detail: StatusDetail) => void;
  /** The outcome of each resume, once the server announced the re-join (after the replay it
   * sent). Only for protocols whose messages declare stream roles (`joins_stream`, `stream`,
   * `publishes`, `leaves_stream`): the client keeps each joined room's epoch and the offset up
   * to which it has every message, joins again after a reconnect with `since`, and drops
   * stored messages it already had. `recovered: false` means messages may be missing (the
   * epoch changed, or the history no longer reaches back): fetch them (e.g. with a history
   * request) from {@link ResumeResult.since}. */
  onResume?: (result: ResumeResult) => void;
  /** Frames refused (default: `console.warn`). */
  onInvalid?: (frame: InvalidFrame) => void;
  /** Error replies that answer no pending request (default: `console.warn`), and refusals of
   * the refresh request. */
  onError?: (error: ServerError) => void;
  /** Keep a signed token alive: while connected, send `request()` (a request, e.g. the chat's
   * `{type: "refresh", token}`) every `every` ms; returning nothing skips that turn. Pass `url` as
   * a function to reconnect with a fresh token too. */
  refresh?: RefreshOptions;
}

/** Where the client stands in one room's stream: every stored message up to `offset` of
 * `epoch` has reached it (pushed, replayed, or the reply to its own publishing request). */
export interface StreamPosition {
  /** The room. */
  room: string;
  /** The room's epoch (opaque; changes whenever the room's history was lost). */
  epoch: string;
  /** The highest offset up to which no message is missing. */
  offset: number;
}

/** One room's resume after a reconnect (see {@link ConnectOptions.onResume}). */
export interface ResumeResult {
  /** The room. */
  room: string;
  /** Whether every message after `since` was replayed: nothing is missing. */
  recovered: boolean;
  /** The room's epoch now. */
  epoch: string;
  /** The room's latest offset now (the client's position from here on). */
  offset: number;
  /** Where the client stood before: what it asked to resume from. With `recovered: false`,
   * what came after it in `since.epoch` may be missing. */
  since: { epoch: string; offset: number };
}

/** See {@link ConnectOptions.refresh}. */
export interface RefreshOptions {
  /** Period, ms. */
  every: number;
  /** The request to send, or nothing. */
  request: () => AnyRequestMsg | null | undefined;
}

/** Any request as passed to `request` (without its correlation id). */
export type AnyRequestMsg = { [T in keyof Requests]: RequestMsg<T> & Readonly<Record<ClientTag, T>> }[keyof Requests];

/** Options of one request. */
export interface RequestOptions {
  /** Overrides {@link ConnectOptions.requestTimeout}, ms. */
  timeout?: number;
}

type WithoutId<T> = T extends unknown ? Omit<T, ClientId> : never;

/** A request as passed to `request`: the client adds the correlation id. */
export type RequestMsg<T extends keyof Requests> = WithoutId<Requests[T]["request"]>;

/** The server message of type `T`. */
export type ServerMessageOf<T extends ServerMessage.MessageType> = Extract<ServerMessage, Readonly<Record<ServerTag, T>>>;

/** A client, from {@link connect}. */
export interface Client {
  /** The current status. */
  readonly status: Status;
  /** Sends any client message; while disconnected it waits in the queue. A stream-joining
   * message is remembered instead (sent on every open, see {@link ConnectOptions.onResume});
   * a stream-leaving message forgets its room, and is not queued (the server forgot the room
   * with the lost connection). Publish with `request`, so the reply's offset counts as seen.
   * A join the server refused is still remembered (its error reply carries no id to match it
   * by) and sent again after a reconnect, until a leave forgets it.
   * @throws {ClientError} `queue_full` or `closed`. */
  send(msg: ClientMessage): void;
  /** Where the client stands in each stream room it joined and whose join was announced; empty
   * for protocols without stream roles. */
  positions(): StreamPosition[];
  /** Sends a request (a message that declares its reply) with a fresh correlation id and
   * resolves with the reply. Rejects with {@link ProtocolError} on an error reply, with
   * {@link ClientError} `timeout`, `disconnected` (the connection closed after it was sent),
   * `queue_full` or `closed`. */
  request<T extends keyof Requests>(msg: RequestMsg<T> & Readonly<Record<ClientTag, T>>, options?: RequestOptions): Promise<Requests[T]["reply"]>;
  /** Sets the handlers, one for every server message that is not only a reply (call it right
   * after `connect`; it replaces earlier ones). */
  handle(handlers: Handlers): void;
  /** Listens to every valid message of one type (replies and errors too; a reply that answers
   * no pending request, e.g. after its timeout, reaches only these); returns the function that
   * stops it. */
  on<T extends ServerMessage.MessageType>(type: T, listener: (msg: ServerMessageOf<T>) => void): () => void;
  /** Closes for good (default code 1000): no reconnect; pending and queued requests reject
   * with {@link ClientError} `closed`. */
  close(code?: number, reason?: string): void;
}

/** Opens a client; the connection starts at once and is kept up. `url` may be a function,
 * called before every attempt (for a fresh token).
 * @throws {TypeError} when there is no WebSocket implementation; a malformed URL's error. */
export declare function connect(url: string | (() => string), options?: ConnectOptions): Client;

/** Checks a parsed server message as `validate` does (with the server messages' JSON Schema):
 * null when it is valid, else the first failure. */
export declare function validateServerMessage(value: unknown): { pointer: string; reason: string } | null;

/** Why `send` threw or `request` rejected, on this side of the wire. */
export declare class ClientError extends Error {
  readonly kind: "timeout" | "disconnected" | "queue_full" | "closed";
  constructor(kind: "timeout" | "disconnected" | "queue_full" | "closed", message: string);
}

/** A request answered by the protocol's error reply. */
export declare class ProtocolError extends Error {
  /** The error's machine-readable code. */
  readonly code: string;
  /** JSON Pointer to the field at fault, or null. */
  readonly pointer: string | null;
  /** The correlation id of the request. */
  readonly id: number | null;
  /** The whole error reply. */
  readonly reply: ServerError;
  constructor(reply: ServerError);
}
