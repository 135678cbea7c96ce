// Typing judge for the demo protocol's generated client (schema/tests/protocols: a catch-all,
// a newtype variant, an aliased variant); see chat.ts for how the traps work.

import { connect, ProtocolError } from "./demo.client.js";
import type { Handlers, Requests } from "./demo.client.js";
import type { ClientMsg, ServerMsg } from "./demo.js";

const client = connect(() => "ws://127.0.0.1:1/ws", { reconnect: false });

client.send({ type: "moved", x: 1, y: 2 });
client.send({ type: "ping" });
const draw: ClientMsg.Draw = {
  type: "draw",
  at: { x: 0, y: 0 },
  to: null,
  path: [],
  pair: [1, "a"],
  color: "red",
  shape: { Square: 3 },
  counter: 1,
  weights: {},
  byNumber: {},
};
client.send(draw);
// @ts-expect-error a colour the enum does not have
client.send({ ...draw, color: "blue" });
// @ts-expect-error a tuple of the wrong shape
client.send({ ...draw, pair: ["a", 1] });

async function requests(): Promise<void> {
  const sent = await client.request({ type: "message", room: "r", text: "t" });
  const id: string = sent.messageId;
  console.log(id);
  // @ts-expect-error `sent` has no `room`
  console.log(sent.room);
  // @ts-expect-error `ping` declares no reply
  await client.request({ type: "ping" });
  // @ts-expect-error `moved` declares no reply
  await client.request({ type: "moved", x: 1, y: 2 });
  await client.request({ type: "message", room: "r", text: "t" }).catch((e: unknown) => {
    if (e instanceof ProtocolError) console.log(e.code, e.reply.pointer);
  });
}

// The catch-all has a handler of its own, under "*".
client.handle({
  joined: (m) => console.log(m.members),
  message: (m) => console.log(m.from),
  moved: (m) => console.log(m.x + m.y, m.label),
  "*": (m: ServerMsg.Unknown) => console.log(m.type),
});
// @ts-expect-error the catch-all's handler is required too
client.handle({ joined: () => {}, message: () => {}, moved: () => {} });

const handled: (keyof Handlers)[] = ["joined", "message", "moved", "*"];
// @ts-expect-error `sent` is a reply
const sentKey: keyof Handlers = "sent";
const requestKeys: (keyof Requests)[] = ["message"];
console.log(handled, sentKey, requestKeys, requests);
