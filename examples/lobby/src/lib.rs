//! A tic-tac-toe lobby on `protocol-core`: every game is a room; `create` and `join` take a seat
//! and answer with the typed reply `joined`; `move` is a request validated on the server (your
//! turn, an empty cell, a game not over), and after each move the board goes to everyone in the
//! game. Presence comes from the hub; the `disconnected` hook frees a player's seat whatever
//! ended the connection (the peer, a limit, shutdown), and the other player is told the game was
//! abandoned.
//!
//! Connect with `ws://HOST:PORT/ws?user=NAME` (`NAME` matches `[A-Za-z0-9_-]{1,32}`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use protocol_core::{
    ConnId, Context, Disconnect, ErrorReply, Hub, Protocol, Rejection, Server, TypedServerBuilder,
    schemars, serde,
};

/// Games one connection may sit in at once (one more: `too_many_rooms`).
pub const MAX_GAMES_PER_CONNECTION: usize = 8;

/// A seat, and the mark its player puts on the board.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(crate = "protocol_core::serde", rename_all = "lowercase")]
#[schemars(crate = "protocol_core::schemars")]
pub enum Mark {
    /// The first seat; X moves first.
    X,
    /// The second seat.
    O,
}

impl Mark {
    fn other(self) -> Mark {
        match self {
            Mark::X => Mark::O,
            Mark::O => Mark::X,
        }
    }

    fn index(self) -> usize {
        match self {
            Mark::X => 0,
            Mark::O => 1,
        }
    }
}

/// Messages a lobby client sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ClientMsg {
    /// Open a new game and sit in seat `x`; answered with `joined` (the new game's id).
    #[protocol(reply = ServerMsg::Joined, error_codes("too_many_rooms"))]
    Create,
    /// Take the free seat of a game; answered with `joined`. When both seats are taken the game
    /// starts: both players get `board`, and the other player gets `presence`.
    #[protocol(
        reply = ServerMsg::Joined,
        pushes(ServerMsg::Board = "both players", ServerMsg::Presence = "the other player"),
        error_codes("unknown_game", "game_full", "already_seated", "too_many_rooms")
    )]
    Join {
        /// The game's id, from `create`'s `joined`.
        game: String,
    },
    /// Put your mark in a cell; answered with `moved`, then both players get `board`.
    #[protocol(
        reply = ServerMsg::Moved,
        pushes(ServerMsg::Board = "both players"),
        error_codes(
            "not_seated",
            "waiting_for_opponent",
            "game_over",
            "not_your_turn",
            "cell_taken",
            "invalid_message"
        )
    )]
    Move {
        /// The game.
        game: String,
        /// The cell, 0 to 8, row by row from the top left.
        cell: u8,
    },
    /// Give up your seat; answered with `left`. The other player gets `abandoned` when the game
    /// was still going, and `presence` offline.
    #[protocol(
        reply = ServerMsg::Left,
        pushes(
            ServerMsg::Abandoned = "the other player",
            ServerMsg::Presence = "the other player"
        ),
        error_codes("not_seated")
    )]
    Leave {
        /// The game.
        game: String,
    },
}

/// Messages the lobby server sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ServerMsg {
    /// You sit in a game: the reply to `create` and `join`.
    Joined {
        /// The game's id (also its room).
        game: String,
        /// Your seat and mark.
        seat: Mark,
        /// The other player, when there is one.
        opponent: Option<String>,
    },
    /// Your move was accepted: the reply to `move`.
    Moved {
        /// The game.
        game: String,
        /// The cell you marked.
        cell: u8,
    },
    /// You gave up your seat: the reply to `leave`.
    Left {
        /// The game.
        game: String,
    },
    /// The board, pushed to both players when a game starts and after every move.
    Board {
        /// The game.
        game: String,
        /// Nine cells, row by row from the top left; `null` is empty.
        cells: Vec<Option<Mark>>,
        /// Whose move it is; `null` once the game is over.
        turn: Option<Mark>,
        /// Who won, once someone has three in a row.
        winner: Option<Mark>,
        /// The board is full and nobody won.
        draw: bool,
    },
    /// A player's first connection joined the game, or their last one left it.
    Presence {
        /// The game.
        game: String,
        /// Who.
        player: String,
        /// Online or offline.
        online: bool,
    },
    /// The other player left (or their connection dropped) before the game was over; their
    /// seat is free, and the game starts over when someone takes it.
    Abandoned {
        /// The game.
        game: String,
        /// Who left.
        by: String,
    },
    /// A message could not be handled.
    Error(ErrorReply),
}

/// The three-in-a-rows.
const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

/// Who sits in a seat: the identity and the connection (a seat belongs to one socket, so a
/// dropped socket frees exactly its own seats).
#[derive(Debug, Clone)]
struct Seat {
    player: String,
    conn: ConnId,
}

/// One game's state.
#[derive(Debug)]
struct Game {
    seats: [Option<Seat>; 2],
    cells: [Option<Mark>; 9],
    turn: Mark,
    /// Both seats were taken and play began (a game of one player is waiting).
    started: bool,
    over: bool,
}

impl Game {
    fn new() -> Self {
        Game {
            seats: [None, None],
            cells: [None; 9],
            turn: Mark::X,
            started: false,
            over: false,
        }
    }

    fn winner(&self) -> Option<Mark> {
        LINES.iter().find_map(|[a, b, c]| match self.cells[*a] {
            Some(m) if self.cells[*b] == Some(m) && self.cells[*c] == Some(m) => Some(m),
            _ => None,
        })
    }

    fn seat_of(&self, conn: ConnId) -> Option<Mark> {
        [Mark::X, Mark::O].into_iter().find(|m| {
            self.seats[m.index()]
                .as_ref()
                .is_some_and(|s| s.conn == conn)
        })
    }

    fn player(&self, mark: Mark) -> Option<String> {
        self.seats[mark.index()].as_ref().map(|s| s.player.clone())
    }

    fn board(&self, game: &str) -> ServerMsg {
        let winner = self.winner();
        let draw = winner.is_none() && self.cells.iter().all(Option::is_some);
        ServerMsg::Board {
            game: game.to_owned(),
            cells: self.cells.to_vec(),
            turn: (!self.over).then_some(self.turn),
            winner,
            draw,
        }
    }

    /// A fresh board with X to move, when both seats are taken.
    fn start(&mut self) {
        self.cells = [None; 9];
        self.turn = Mark::X;
        self.started = true;
        self.over = false;
    }
}

/// The lobby's games and handlers.
#[derive(Debug, Default)]
pub struct Lobby {
    games: Mutex<HashMap<String, Game>>,
    next_id: AtomicU64,
}

impl Lobby {
    /// An empty lobby.
    pub fn new() -> Self {
        Self::default()
    }

    /// Games that exist (someone sits in them).
    pub fn games(&self) -> usize {
        lock(&self.games).len()
    }

    /// Take the free seat of `game` for this connection, or say why not.
    fn take_seat(
        &self,
        cx: &Context<ServerMsg>,
        game: &str,
    ) -> Result<ServerMsgJoined, ErrorReply> {
        let mut games = lock(&self.games);
        let Some(g) = games.get_mut(game) else {
            return Err(unknown_game(game));
        };
        if g.seat_of(cx.conn_id()).is_some() {
            return Err(ErrorReply::new(
                "already_seated",
                format!("you already sit in game {game:?}"),
            )
            .with_pointer("/game"));
        }
        let Some(seat) = [Mark::X, Mark::O]
            .into_iter()
            .find(|m| g.seats[m.index()].is_none())
        else {
            return Err(ErrorReply::new(
                "game_full",
                format!("both seats of game {game:?} are taken"),
            )
            .with_pointer("/game"));
        };
        g.seats[seat.index()] = Some(Seat {
            player: cx.identity().to_owned(),
            conn: cx.conn_id(),
        });
        Ok(ServerMsgJoined {
            game: game.to_owned(),
            seat,
            opponent: g.player(seat.other()),
        })
    }

    /// Free this connection's seat in `game`; the game goes when nobody is left. Returns what
    /// the other player must hear (`abandoned` when the game was still going).
    fn free_seat(&self, conn: ConnId, player: &str, game: &str) -> Option<Option<ServerMsg>> {
        let mut games = lock(&self.games);
        let g = games.get_mut(game)?;
        let seat = g.seat_of(conn)?;
        g.seats[seat.index()] = None;
        let going = g.started && !g.over;
        g.started = false;
        g.over = false;
        g.cells = [None; 9];
        if g.seats.iter().all(Option::is_none) {
            games.remove(game);
            return Some(None);
        }
        Some(going.then(|| ServerMsg::Abandoned {
            game: game.to_owned(),
            by: player.to_owned(),
        }))
    }

    /// Sit down in a game this connection has just taken a seat in: join its room (undoing the
    /// seat when the hub refuses), and start the game when both seats are taken.
    async fn sit(
        &self,
        cx: &Context<ServerMsg>,
        joined: ServerMsgJoined,
    ) -> Result<ServerMsgJoined, ErrorReply> {
        if let Err(e) = cx.join(&joined.game).await {
            self.free_seat(cx.conn_id(), cx.identity(), &joined.game);
            return Err(e);
        }
        let board = {
            let mut games = lock(&self.games);
            match games.get_mut(&joined.game) {
                Some(g) if g.seats.iter().all(Option::is_some) && !g.started => {
                    g.start();
                    Some(g.board(&joined.game))
                }
                _ => None,
            }
        };
        if let Some(board) = board {
            cx.broadcast_all(&joined.game, &board)?;
        }
        Ok(joined)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unknown_game(game: &str) -> ErrorReply {
    ErrorReply::new("unknown_game", format!("there is no game {game:?}")).with_pointer("/game")
}

fn not_seated(game: &str) -> ErrorReply {
    ErrorReply::new("not_seated", format!("you do not sit in game {game:?}")).with_pointer("/game")
}

impl ClientMsgHandler for Lobby {
    type Out = ServerMsg;

    async fn on_create(&self, cx: &Context<ServerMsg>) -> Result<ServerMsgJoined, ErrorReply> {
        let game = format!("g{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        lock(&self.games).insert(game.clone(), Game::new());
        let joined = self.take_seat(cx, &game)?;
        self.sit(cx, joined).await
    }

    async fn on_join(
        &self,
        cx: &Context<ServerMsg>,
        game: String,
    ) -> Result<ServerMsgJoined, ErrorReply> {
        let joined = self.take_seat(cx, &game)?;
        self.sit(cx, joined).await
    }

    async fn on_move(
        &self,
        cx: &Context<ServerMsg>,
        game: String,
        cell: u8,
    ) -> Result<ServerMsgMoved, ErrorReply> {
        let board = {
            let mut games = lock(&self.games);
            let Some(g) = games.get_mut(&game) else {
                return Err(unknown_game(&game));
            };
            let Some(seat) = g.seat_of(cx.conn_id()) else {
                return Err(not_seated(&game));
            };
            if !g.started {
                return Err(ErrorReply::new(
                    "waiting_for_opponent",
                    "the game starts when both seats are taken",
                )
                .with_pointer("/game"));
            }
            if g.over {
                return Err(
                    ErrorReply::new("game_over", format!("game {game:?} is over"))
                        .with_pointer("/game"),
                );
            }
            let index = usize::from(cell);
            if index >= g.cells.len() {
                return Err(ErrorReply::invalid(
                    "/cell",
                    format!("cells are 0 to 8, got {cell}"),
                ));
            }
            if g.turn != seat {
                return Err(
                    ErrorReply::new("not_your_turn", format!("it is {:?}'s move", g.turn))
                        .with_pointer("/cell"),
                );
            }
            if g.cells[index].is_some() {
                return Err(
                    ErrorReply::new("cell_taken", format!("cell {cell} is not empty"))
                        .with_pointer("/cell"),
                );
            }
            g.cells[index] = Some(seat);
            g.turn = seat.other();
            g.over = g.winner().is_some() || g.cells.iter().all(Option::is_some);
            g.board(&game)
        };
        cx.broadcast_all(&game, &board)?;
        Ok(ServerMsgMoved { game, cell })
    }

    async fn on_leave(
        &self,
        cx: &Context<ServerMsg>,
        game: String,
    ) -> Result<ServerMsgLeft, ErrorReply> {
        let Some(tell) = self.free_seat(cx.conn_id(), cx.identity(), &game) else {
            return Err(not_seated(&game));
        };
        if let Some(msg) = tell {
            cx.broadcast(&game, &msg)?;
        }
        cx.leave(&game).await;
        Ok(ServerMsgLeft { game })
    }

    /// Free every seat of the connection, however it ended; it is still in its rooms here, so
    /// the other player hears `abandoned` before the hub's `presence` offline.
    async fn disconnected(&self, cx: &Context<ServerMsg>, _end: &Disconnect) {
        for game in cx.rooms() {
            if let Some(Some(msg)) = self.free_seat(cx.conn_id(), cx.identity(), &game) {
                // The other player may be gone as well; nobody is left to tell then.
                let _ = cx.broadcast(&game, &msg);
            }
        }
    }
}

/// `NAME` matches `[A-Za-z0-9_-]{1,32}`.
pub fn valid_player(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The identity from `?user=NAME` (nothing verifies it: a lobby for friends), or 401.
pub fn authenticate(uri: &str) -> Result<String, Rejection> {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    let user = protocol_core::query::param(query, "user").unwrap_or_default();
    if valid_player(&user) {
        Ok(user.into_owned())
    } else {
        Err(Rejection::new(
            401,
            "connect as /ws?user=NAME with NAME matching [A-Za-z0-9_-]{1,32}",
        ))
    }
}

/// The hub: presence of the players in each game, and a cap on games per connection.
pub fn hub() -> Hub<ServerMsg> {
    Hub::builder()
        .max_rooms_per_connection(MAX_GAMES_PER_CONNECTION)
        .presence(|e| {
            Some(ServerMsg::Presence {
                game: e.room.clone(),
                player: e.identity.clone(),
                online: e.online,
            })
        })
        .build()
}

/// The lobby's server, configured: hub, `?user=NAME`, default limits.
pub fn server_builder(
    lobby: Arc<Lobby>,
    hub: Hub<ServerMsg>,
) -> TypedServerBuilder<ClientMsg, Lobby> {
    Server::<ClientMsg, Lobby>::builder_shared(lobby)
        .hub(hub)
        .authenticate(|req| authenticate(&req.uri().to_string()))
}

/// The lobby protocol for the schema tooling: exports under `examples/lobby/schema/`.
pub fn spec() -> protocol_schema::Spec {
    protocol_schema::Spec::new("lobby", "1.0.0")
        .title("Tic-tac-toe lobby")
        .description(
            "Games as rooms: create or join a game, moves validated by the server, the board pushed to both players, presence, seats freed when a connection drops.",
        )
        .client_to_server::<ClientMsg>()
        .server_to_client::<ServerMsg>()
}
