//! The lobby through the test kit: real server on 127.0.0.1:0, every frame checked against the
//! protocol's schema, typed replies (`ServerMsgJoined`, `ServerMsgMoved`, `ServerMsgLeft`)
//! compared with what came back.

use std::sync::Arc;

use lobby_example::{
    ClientMsg, Lobby, MAX_GAMES_PER_CONNECTION, Mark, ServerMsg, ServerMsgJoined, ServerMsgLeft,
    ServerMsgMoved,
};
use protocol_core::testing::{TestClient, TestServer};
use protocol_core::{assert_push, assert_reply, refute_push};

type Server = TestServer<ClientMsg, Lobby>;
type Player = TestClient<ClientMsg, ServerMsg>;

async fn start() -> Server {
    TestServer::start_with_hub(Lobby::new(), lobby_example::hub()).await
}

/// The lobby's own server (its `?user=NAME` hook, not the kit's), keeping a handle on the games.
async fn start_shared(max_message_size: usize) -> (Server, Arc<Lobby>) {
    let lobby = Arc::new(Lobby::new());
    let builder = lobby_example::server_builder(Arc::clone(&lobby), lobby_example::hub())
        .with_limits(|l| l.max_message_size = max_message_size);
    (TestServer::start_with(builder).await, lobby)
}

fn create() -> ClientMsg {
    ClientMsg::Create
}

fn join(game: &str) -> ClientMsg {
    ClientMsg::Join { game: game.into() }
}

fn mv(game: &str, cell: u8) -> ClientMsg {
    ClientMsg::Move {
        game: game.into(),
        cell,
    }
}

/// Alice creates a game and sits at X, Bob takes O; both get the starting board.
async fn seated(server: &Server) -> (Player, Player, String) {
    let mut alice = server.connect_as("alice").await;
    let mut bob = server.connect_as("bob").await;
    let game = assert_reply!(
        alice.request(&create()).await,
        ServerMsg::Joined { game, seat: Mark::X, opponent: None } => game
    );
    let reply = bob.request(&join(&game)).await;
    assert_eq!(
        reply,
        Ok(ServerMsgJoined {
            game: game.clone(),
            seat: Mark::O,
            opponent: Some("alice".into()),
        }
        .into())
    );
    assert_push!(alice, ServerMsg::Presence { game: g, player, online: true } if *g == game && player == "bob");
    for p in [&mut alice, &mut bob] {
        let (cells, turn) = assert_push!(
            p,
            ServerMsg::Board { game: g, cells, turn, winner: None, draw: false } if *g == game => (cells, turn)
        );
        assert_eq!(cells, vec![None; 9]);
        assert_eq!(turn, Some(Mark::X));
    }
    (alice, bob, game)
}

/// Play `cells` alternately, X first; both players get each board. Returns the last board.
async fn play(alice: &mut Player, bob: &mut Player, game: &str, cells: &[u8]) -> ServerMsg {
    let mut last = None;
    for (i, &cell) in cells.iter().enumerate() {
        let mover = if i % 2 == 0 { &mut *alice } else { &mut *bob };
        let reply = mover.request(&mv(game, cell)).await;
        assert_eq!(
            reply,
            Ok(ServerMsgMoved {
                game: game.into(),
                cell,
            }
            .into())
        );
        let mark = if i % 2 == 0 { Mark::X } else { Mark::O };
        for p in [&mut *alice, &mut *bob] {
            let board = assert_push!(p, ServerMsg::Board { game: g, .. } if g == game);
            let ServerMsg::Board { cells: ref now, .. } = board else {
                unreachable!("matched Board")
            };
            assert_eq!(
                now[usize::from(cell)],
                Some(mark),
                "cell {cell} after move {i}"
            );
            assert_eq!(now.iter().flatten().count(), i + 1, "marks after move {i}");
            last = Some(board);
        }
    }
    last.expect("at least one move")
}

#[tokio::test]
async fn a_game_to_a_win() {
    let server = start().await;
    let (mut alice, mut bob, game) = seated(&server).await;
    // X takes the top row; O plays 3 and 4.
    let board = play(&mut alice, &mut bob, &game, &[0, 3, 1, 4, 2]).await;
    let ServerMsg::Board {
        cells,
        turn,
        winner,
        draw,
        ..
    } = board
    else {
        unreachable!("play returns a board")
    };
    let (x, o) = (Some(Mark::X), Some(Mark::O));
    assert_eq!(cells, vec![x, x, x, o, o, None, None, None, None]);
    assert_eq!((turn, winner, draw), (None, Some(Mark::X), false));
    // Over: neither player may move any more.
    let e = bob.assert_error(&mv(&game, 5), "game_over").await;
    assert_eq!(e.pointer(), Some("/game"));
    let e = alice.assert_error(&mv(&game, 8), "game_over").await;
    assert_eq!(e.pointer(), Some("/game"));
}

#[tokio::test]
async fn a_game_to_a_draw() {
    let server = start().await;
    let (mut alice, mut bob, game) = seated(&server).await;
    //  X O X
    //  X O O
    //  O X X
    let board = play(&mut alice, &mut bob, &game, &[0, 1, 2, 4, 3, 5, 7, 6, 8]).await;
    let (x, o) = (Some(Mark::X), Some(Mark::O));
    assert_eq!(
        board,
        ServerMsg::Board {
            game: game.clone(),
            cells: vec![x, o, x, x, o, o, o, x, x],
            turn: None,
            winner: None,
            draw: true,
        }
    );
    alice.assert_error(&mv(&game, 0), "game_over").await;
}

#[tokio::test]
async fn every_move_error_has_its_code_and_pointer() {
    let server = start().await;
    let mut alice = server.connect_as("alice").await;
    let game =
        assert_reply!(alice.request(&create()).await, ServerMsg::Joined { game, .. } => game);

    let e = alice.assert_error(&mv("g999", 0), "unknown_game").await;
    assert_eq!(e.pointer(), Some("/game"));
    let e = alice
        .assert_error(&mv(&game, 0), "waiting_for_opponent")
        .await;
    assert_eq!(e.pointer(), Some("/game"));

    let mut bob = server.connect_as("bob").await;
    let mut carol = server.connect_as("carol").await;
    assert_reply!(
        bob.request(&join(&game)).await,
        ServerMsg::Joined { seat: Mark::O, .. }
    );
    let e = carol.assert_error(&mv(&game, 0), "not_seated").await;
    assert_eq!(e.pointer(), Some("/game"));

    let e = bob.assert_error(&mv(&game, 4), "not_your_turn").await;
    assert_eq!(e.pointer(), Some("/cell"));
    let e = alice.assert_error(&mv(&game, 9), "invalid_message").await;
    assert_eq!(e.pointer(), Some("/cell"));
    let e = alice.assert_error(&mv(&game, 255), "invalid_message").await;
    assert_eq!(e.pointer(), Some("/cell"));

    assert_reply!(
        alice.request(&mv(&game, 4)).await,
        ServerMsg::Moved { cell: 4, .. }
    );
    let e = bob.assert_error(&mv(&game, 4), "cell_taken").await;
    assert_eq!(e.pointer(), Some("/cell"));
    let e = alice.assert_error(&mv(&game, 0), "not_your_turn").await;
    assert_eq!(e.pointer(), Some("/cell"));

    // None of the refused moves reached the board: Bob's next move makes the second mark.
    assert_reply!(
        bob.request(&mv(&game, 0)).await,
        ServerMsg::Moved { cell: 0, .. }
    );
    for p in [&mut alice, &mut bob] {
        // The starting board, then one per accepted move.
        assert_push!(p, ServerMsg::Board { cells, .. } if cells.iter().all(Option::is_none));
        assert_push!(p, ServerMsg::Board { cells, .. } if cells.iter().flatten().count() == 1);
        let cells = assert_push!(p, ServerMsg::Board { cells, turn: Some(Mark::X), .. } => cells);
        assert_eq!(cells.iter().flatten().count(), 2);
        assert_eq!((cells[0], cells[4]), (Some(Mark::O), Some(Mark::X)));
    }
}

#[tokio::test]
async fn spectators_cannot_take_seats_of_a_full_game() {
    let server = start().await;
    let (mut alice, mut bob, game) = seated(&server).await;
    let mut carol = server.connect_as("carol").await;
    let mut dave = server.connect_as("dave").await;
    for spectator in [&mut carol, &mut dave] {
        let e = spectator.assert_error(&join(&game), "game_full").await;
        assert_eq!(e.pointer(), Some("/game"));
        let e = spectator.assert_error(&mv(&game, 0), "not_seated").await;
        assert_eq!(e.pointer(), Some("/game"));
    }
    let e = alice.assert_error(&join(&game), "already_seated").await;
    assert_eq!(e.pointer(), Some("/game"));
    let e = carol.assert_error(&join("g999"), "unknown_game").await;
    assert_eq!(e.pointer(), Some("/game"));
    // The players never heard of them, and they are not in the game's room.
    play(&mut alice, &mut bob, &game, &[4]).await;
    refute_push!(alice, ServerMsg::Presence { .. });
    refute_push!(carol, ServerMsg::Board { .. });
    refute_push!(dave, ServerMsg::Board { .. });
}

#[tokio::test]
async fn leaving_abandons_a_game_in_progress_and_frees_the_seat() {
    let server = start().await;
    let (mut alice, mut bob, game) = seated(&server).await;
    play(&mut alice, &mut bob, &game, &[4]).await;
    let reply = bob.request(&ClientMsg::Leave { game: game.clone() }).await;
    assert_eq!(reply, Ok(ServerMsgLeft { game: game.clone() }.into()));
    let by = assert_push!(alice, ServerMsg::Abandoned { game: g, by } if *g == game => by);
    assert_eq!(by, "bob");
    assert_push!(alice, ServerMsg::Presence { player, online: false, .. } if player == "bob");
    bob.assert_error(&mv(&game, 0), "not_seated").await;
    bob.assert_error(&ClientMsg::Leave { game: game.clone() }, "not_seated")
        .await;

    // The seat is free again and the game starts over.
    let mut carol = server.connect_as("carol").await;
    let reply = carol.request(&join(&game)).await;
    assert_eq!(
        reply,
        Ok(ServerMsgJoined {
            game: game.clone(),
            seat: Mark::O,
            opponent: Some("alice".into()),
        }
        .into())
    );
    for p in [&mut alice, &mut carol] {
        assert_push!(p, ServerMsg::Board { cells, turn: Some(Mark::X), .. } if cells.iter().all(Option::is_none));
    }
}

/// A dropped socket frees its seat: the `disconnected` hook runs while the connection is still
/// in its rooms, so Bob hears `abandoned` and then the hub's presence offline.
#[tokio::test]
async fn a_dropped_socket_abandons_the_game() {
    let (server, lobby) = start_shared(64 * 1024).await;
    let (alice, mut bob, game) = seated(&server).await;
    alice.close().await;
    let by = assert_push!(bob, ServerMsg::Abandoned { game: g, by } if *g == game => by);
    assert_eq!(by, "alice");
    assert_push!(bob, ServerMsg::Presence { player, online: false, .. } if player == "alice");
    server.wait_for_connections(1).await;
    assert_eq!(lobby.games(), 1, "Bob still sits in the game");

    // Alice's seat (X) is free: Carol takes it, and the game starts over.
    let mut carol = server.connect_as("carol").await;
    let reply = carol.request(&join(&game)).await;
    assert_eq!(
        reply,
        Ok(ServerMsgJoined {
            game: game.clone(),
            seat: Mark::X,
            opponent: Some("bob".into()),
        }
        .into())
    );
    assert_push!(
        carol,
        ServerMsg::Board {
            turn: Some(Mark::X),
            ..
        }
    );
    bob.close().await;
    assert_push!(carol, ServerMsg::Abandoned { by, .. } if by == "bob");
    carol.close().await;
    server.wait_for_connections(0).await;
    assert_eq!(lobby.games(), 0, "a game nobody sits in is gone");
}

/// A connection the server closes for breaking a limit (1009: too big) is freed the same way.
#[tokio::test]
async fn a_connection_closed_by_a_limit_abandons_the_game() {
    let (server, lobby) = start_shared(1024).await;
    let (mut alice, mut bob, game) = seated(&server).await;
    play(&mut alice, &mut bob, &game, &[0]).await;
    bob.send_oversized(4096).await;
    bob.assert_closed(1009).await;
    let by = assert_push!(alice, ServerMsg::Abandoned { game: g, by } if *g == game => by);
    assert_eq!(by, "bob");
    assert_push!(alice, ServerMsg::Presence { player, online: false, .. } if player == "bob");
    server.wait_for_connections(1).await;
    assert_eq!(lobby.games(), 1);
    alice
        .assert_error(&mv(&game, 1), "waiting_for_opponent")
        .await;
}

/// A game that ends before the drop is not abandoned: only presence goes offline.
#[tokio::test]
async fn leaving_a_finished_game_is_no_abandonment() {
    let server = start().await;
    let (mut alice, mut bob, game) = seated(&server).await;
    play(&mut alice, &mut bob, &game, &[0, 3, 1, 4, 2]).await;
    bob.close().await;
    assert_push!(alice, ServerMsg::Presence { player, online: false, .. } if player == "bob");
    refute_push!(alice, ServerMsg::Abandoned { .. });
}

/// The hub's cap on rooms per connection is the cap on games: the refused game is not kept.
#[tokio::test]
async fn too_many_games_on_one_connection() {
    let (server, lobby) = start_shared(64 * 1024).await;
    let mut alice = server.connect_as("alice").await;
    for _ in 0..MAX_GAMES_PER_CONNECTION {
        assert_reply!(
            alice.request(&create()).await,
            ServerMsg::Joined { seat: Mark::X, .. }
        );
    }
    alice.assert_error(&create(), "too_many_rooms").await;
    assert_eq!(lobby.games(), MAX_GAMES_PER_CONNECTION);
}

#[tokio::test]
async fn a_connection_without_a_name_is_refused() {
    let (server, _lobby) = start_shared(64 * 1024).await;
    let refused = server.try_connect_as("bad!name").await;
    let Err(e) = refused else {
        panic!("a connection as `bad!name` was accepted")
    };
    assert!(e.contains("401"), "{e}");
}
