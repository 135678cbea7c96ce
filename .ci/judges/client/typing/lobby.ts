// Typing judge for the lobby's generated client: `tsc --strict --noEmit` on this file next to
// lobby.d.ts and lobby.client.d.ts (see client-judges.sh). Every `@ts-expect-error` is a trap: if
// the line below it type-checks, tsc fails ("Unused '@ts-expect-error' directive").

import { connect, ProtocolError } from "./lobby.client.js";
import type { Client, Handlers, Requests } from "./lobby.client.js";
import type { ServerMsg } from "./lobby.js";

// Nested types live in the namespace of the direction that uses them.
type Mark = ServerMsg.Mark;

const client: Client = connect("ws://127.0.0.1:1/ws?user=alice", { requestTimeout: 2_000 });

async function play(): Promise<void> {
  // `create` and `join` both answer with `joined`: the seat is a Mark.
  const created = await client.request({ type: "create" });
  const joined: ServerMsg.Joined = created;
  const seat: Mark = created.seat;
  const game: string = created.game;
  console.log(joined, seat);
  // @ts-expect-error a seat is "x" or "o"
  const badSeat: Mark = "z";
  const other = await client.request({ type: "join", game });
  // @ts-expect-error `joined` has no cells (that is `board`)
  console.log(other.cells);

  // `move` answers with `moved`, not with the board.
  const moved = await client.request({ type: "move", game, cell: 4 });
  const cell: number = moved.cell;
  // @ts-expect-error the reply to `move` is `moved`, not a `board` push
  const board: ServerMsg.Board = await client.request({ type: "move", game, cell: 4 });
  // @ts-expect-error a cell is a number
  await client.request({ type: "move", game, cell: "4" });
  // @ts-expect-error a move needs its game
  await client.request({ type: "move", cell: 4 });
  // @ts-expect-error a misspelt request type
  await client.request({ type: "mvoe", game, cell: 4 });
  console.log(cell, board, badSeat);

  const left: ServerMsg.Left = await client.request({ type: "leave", game });
  console.log(left.game);
  try {
    await client.request({ type: "move", game, cell: 9 });
  } catch (e) {
    if (e instanceof ProtocolError) {
      const pointer: string | null = e.pointer;
      console.log(e.code, pointer);
    }
  }
}

// Requests: all four client messages declare a reply.
const requestKeys: (keyof Requests)[] = ["create", "join", "move", "leave"];
// Handlers: exactly the pushes, never the replies.
const handlerKeys: (keyof Handlers)[] = ["board", "presence", "abandoned"];
// @ts-expect-error `joined` is only a reply: no handler
const joinedKey: keyof Handlers = "joined";
console.log(requestKeys, handlerKeys, joinedKey, play);

client.handle({
  board: (m) => console.log(m.cells.map((c) => c ?? "."), m.turn, m.winner, m.draw),
  presence: (m) => console.log(m.player, m.online),
  abandoned: (m) => console.log(m.game, m.by),
});

// @ts-expect-error a missing handler (`abandoned`)
client.handle({ board: () => {}, presence: () => {} });

client.handle({
  // @ts-expect-error a board's cells hold marks or null, not numbers
  board: (m) => { const n: number = m.cells[0]; console.log(n); },
  presence: () => {},
  abandoned: () => {},
});

client.close(1000, "bye");
