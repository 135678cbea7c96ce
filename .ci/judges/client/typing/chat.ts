// Typing judge for the chat's generated client: `tsc --strict --noEmit` on this file next to
// chat.d.ts and chat.client.d.ts (see client-judges.sh). Every `@ts-expect-error` is a trap: if
// the line below it type-checks, tsc fails ("Unused '@ts-expect-error' directive").

import { connect, ClientError, ProtocolError } from "./chat.client.js";
import type { Client, Handlers, Requests, ResumeResult, Status, StreamPosition } from "./chat.client.js";
import type { ServerMsg } from "./chat.js";

const client: Client = connect("ws://127.0.0.1:1/ws?user=alice", {
  reconnect: { minDelay: 100, maxDelay: 5_000, maxAttempts: 10 },
  requestTimeout: 2_000,
  queueLimit: 10,
  validate: true,
  onStatus: (s: Status, detail) => console.log(s, detail.attempt, detail.code),
  onInvalid: (f) => console.warn(f.reason, f.pointer),
  onError: (e) => console.warn(e.code, e.message, e.pointer),
});

// A refresh sends a request (one that declares a reply), never a plain message.
connect(() => "ws://127.0.0.1:1/ws?token=fresh", {
  refresh: { every: 60_000, request: () => ({ type: "refresh", token: "t" }) },
});
connect("ws://127.0.0.1:1/ws", {
  // @ts-expect-error typing declares no reply: it cannot be the refresh request
  refresh: { every: 60_000, request: () => ({ type: "typing", room: "general", active: true }) },
});

// Every client message may be sent.
client.send({ type: "join", room: "general" });
client.send({ type: "typing", room: "general", active: true });
client.send({ type: "read", messageId: "m1" });

// @ts-expect-error a misspelt type
client.send({ type: "jion", room: "general" });
// @ts-expect-error a wrong field type
client.send({ type: "typing", room: "general", active: "yes" });
// @ts-expect-error a missing field
client.send({ type: "message", room: "general" });

async function requests(): Promise<void> {
  // `message` declares its reply: the promise is of `sent`.
  const sent = await client.request({ type: "message", room: "general", text: "hi" });
  const narrowed: ServerMsg.Sent = sent;
  const id: string = sent.messageId;
  console.log(narrowed, id);
  // @ts-expect-error reading a field of the wrong reply (`sent` has no members)
  console.log(sent.members);
  // @ts-expect-error a request of a variant without a reply
  await client.request({ type: "join", room: "general" });
  // @ts-expect-error a misspelt request type
  await client.request({ type: "mesage", room: "general", text: "hi" });
  // @ts-expect-error a wrong field type in a request
  await client.request({ type: "message", room: "general", text: 42 });
  // @ts-expect-error the reply is not a `message` push
  const wrong: ServerMsg.Message = await client.request({ type: "message", room: "general", text: "hi" });
  console.log(wrong);
  try {
    await client.request({ type: "message", room: "general", text: "" }, { timeout: 500 });
  } catch (e) {
    if (e instanceof ProtocolError) {
      const code: string = e.code;
      const pointer: string | null = e.pointer;
      const id: number | null = e.id;
      const reply: ServerMsg.Error = e.reply;
      console.log(code, pointer, id, reply);
    } else if (e instanceof ClientError) {
      const kind: "timeout" | "disconnected" | "queue_full" | "closed" = e.kind;
      console.log(kind);
    }
  }
}

// Exactly the messages that are not only replies need handlers.
type HandlerKeys = keyof Handlers;
const keys: HandlerKeys[] = ["joined", "presence", "message", "read", "typing"];
// @ts-expect-error `sent` is a reply: no handler
const sentKey: HandlerKeys = "sent";
// @ts-expect-error the error reply: no handler
const errorKey: HandlerKeys = "error";
// Requests: exactly `message`.
const requestKeys: (keyof Requests)[] = ["message"];
// @ts-expect-error `join` declares no reply
const joinRequest: keyof Requests = "join";
console.log(keys, sentKey, errorKey, requestKeys, joinRequest);

client.handle({
  joined: (m) => console.log(m.members.join(", ")),
  presence: (m) => console.log(m.user, m.online),
  message: (m) => console.log(m.from, m.text),
  read: (m) => console.log(m.by),
  typing: (m) => console.log(m.user, m.active),
});

// @ts-expect-error a missing handler (`typing`)
client.handle({
  joined: () => {},
  presence: () => {},
  message: () => {},
  read: () => {},
});

client.handle({
  joined: () => {},
  presence: () => {},
  // @ts-expect-error a handler reading a field its message does not have
  message: (m) => console.log(m.by),
  read: () => {},
  typing: () => {},
});

const off: () => void = client.on("sent", (m) => console.log(m.messageId));
off();
// @ts-expect-error `on` of a type the server does not send
client.on("joind", () => {});
// @ts-expect-error the listener gets that type's message
client.on("presence", (m) => console.log(m.members));

// Resume: typed results and positions.
connect("ws://127.0.0.1:1/ws?user=alice", {
  onStatus: (_s, detail) => { const rooms: string[] | undefined = detail.resuming; console.log(rooms); },
  onResume: (r: ResumeResult) => {
    const ok: boolean = r.recovered;
    const since: { epoch: string; offset: number } = r.since;
    console.log(ok, since, r.room, r.epoch, r.offset);
    // @ts-expect-error an offset is a number
    const offset: string = r.offset;
    // @ts-expect-error no such field on a resume result
    console.log(r.members, offset);
  },
});
const positions: StreamPosition[] = client.positions();
for (const p of positions) console.log(p.room, p.epoch, p.offset.toFixed(0));
// @ts-expect-error positions() is a list, not a map by room
console.log(client.positions()["general"].offset);
connect("ws://127.0.0.1:1/ws", {
  // @ts-expect-error onResume gets one result, not a list
  onResume: (rs: ResumeResult[]) => console.log(rs.length),
});

client.close(1000, "bye");
const status: Status = client.status;
// @ts-expect-error not a status
const bad: Status = "online";
console.log(status, bad, requests);
