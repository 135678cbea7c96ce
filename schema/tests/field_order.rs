//! What the exports say about a message's fields: which a server message always carries
//! (required, nullable when an `Option`), which only replies carry the correlation id, and the
//! order serde writes them in.

mod common;

use common::TempDir;
use protocol_core::{Protocol, schema_for};
use protocol_schema::Spec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A player's mark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    /// Crosses.
    X,
    /// Noughts.
    O,
}

/// A seat at a game (a named type: fields not in alphabetical order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    /// Who sits there.
    player: String,
    /// Their mark, once the game started.
    mark: Option<Mark>,
    /// Since when (seconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<u32>,
}

/// What players send.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Open a game.
    Create {
        /// Its name.
        name: String,
        /// Who starts; the server picks when left out.
        first: Option<Mark>,
        /// Hidden from the lobby.
        #[serde(default)]
        private: bool,
    },
    /// Put your mark on a cell.
    #[protocol(reply = ServerMsg::Moved)]
    Move {
        /// The game.
        game: String,
        /// 0 to 8.
        cell: u8,
    },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ServerMsg {
    /// The board, to every player of the game.
    Board {
        /// The game.
        game: String,
        /// Nine cells.
        cells: Vec<Option<Mark>>,
        /// Who plays.
        seats: Vec<Seat>,
        /// Whose turn it is; null once the game is over.
        next: Option<Mark>,
        /// Moves made.
        #[serde(default)]
        turn_count: u32,
        /// Who won, once someone has.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        winner: Option<Mark>,
        /// Read from old servers, never written.
        #[serde(default, skip_serializing)]
        legacy: Option<String>,
    },
    /// Your move was taken.
    Moved {
        /// The cell.
        cell: u8,
    },
    /// Something went wrong.
    Error {
        /// A machine-readable code.
        code: String,
        /// For people.
        message: String,
        /// The field at fault.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pointer: Option<String>,
    },
}

fn spec() -> Spec {
    Spec::new("lobby", "1.0.0")
        .client_to_server::<ClientMsg>()
        .server_to_client::<ServerMsg>()
}

fn export() -> (TempDir, String) {
    let dir = TempDir::new("field-order");
    spec().export(dir.path()).unwrap();
    let dts = std::fs::read_to_string(dir.join("lobby.d.ts")).unwrap();
    (dir, dts)
}

/// The member lines (`name: type;` / `name?: type;`) of interface `name` in namespace `ns`.
fn members(dts: &str, ns: &str, name: &str) -> Vec<String> {
    let ns_start = dts
        .find(&format!("export declare namespace {ns} {{"))
        .unwrap_or_else(|| panic!("no namespace {ns} in:\n{dts}"));
    let rest = &dts[ns_start..];
    let start = rest
        .find(&format!("  export interface {name} {{\n"))
        .unwrap_or_else(|| panic!("no interface {ns}.{name} in:\n{dts}"));
    let body = &rest[start..];
    let end = body.find("\n  }\n").unwrap();
    body[..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.starts_with("/**") && !l.starts_with('*'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_server_field_that_is_always_written_is_required_and_nullable() {
    let (_dir, dts) = export();
    let board = members(&dts, "ServerMsg", "Board");
    // `next` is always written (null when there is none): required, nullable. The same for a
    // `#[serde(default)]` field. Skippable fields may be missing.
    assert!(
        board.contains(&"next: Mark | null;".to_owned()),
        "{board:?}"
    );
    assert!(
        board.contains(&"turnCount: number;".to_owned()),
        "{board:?}"
    );
    assert!(
        board.contains(&"cells: (Mark | null)[];".to_owned()),
        "{board:?}"
    );
    assert!(
        board.contains(&"winner?: Mark | null;".to_owned()),
        "{board:?}"
    );
    assert!(
        board.contains(&"legacy?: string | null;".to_owned()),
        "{board:?}"
    );
    let seat = members(&dts, "ServerMsg", "Seat");
    assert_eq!(
        seat,
        [
            "player: string;",
            "mark: Mark | null;",
            "since?: number | null;"
        ]
    );
    let error = members(&dts, "ServerMsg", "Error");
    assert!(
        error.contains(&"pointer?: string | null;".to_owned()),
        "{error:?}"
    );

    // A client message describes what the server accepts: an `Option` or `default` field may
    // be left out.
    let create = members(&dts, "ClientMsg", "Create");
    assert!(
        create.contains(&"first?: Mark | null;".to_owned()),
        "{create:?}"
    );
    assert!(
        create.contains(&"private?: boolean;".to_owned()),
        "{create:?}"
    );
    assert!(create.contains(&"name: string;".to_owned()), "{create:?}");
}

#[test]
fn the_schema_still_says_what_the_decoder_accepts() {
    let schema = schema_for::<ServerMsg>();
    let board = &schema["oneOf"][0];
    // The decoder accepts a board without `next`, `turnCount`, `winner` or `legacy`.
    assert_eq!(board["required"], json!(["type", "game", "cells", "seats"]));
    for frame in [
        r#"{"type":"board","game":"g","cells":[],"seats":[{"player":"a"}]}"#,
        r#"{"type":"board","game":"g","cells":[],"seats":[],"next":null,"id":3}"#,
    ] {
        assert!(protocol_core::decode::<ServerMsg>(frame).is_ok(), "{frame}");
        let doc: Value = serde_json::from_str(frame).unwrap();
        assert!(
            jsonschema::validator_for(&schema).unwrap().is_valid(&doc),
            "{frame}"
        );
    }
    // What the encoder writes, in its order, is in the variant's `$comment`.
    assert_eq!(
        board["$comment"],
        "protocol:fields=id?,game,cells,seats,next,turnCount,winner?,legacy?"
    );
    // And for the named types, from serde's serialize contract.
    assert_eq!(
        schema["$defs"]["Seat"]["$comment"],
        "protocol:fields=player,mark,since?"
    );
    assert_eq!(schema["$defs"]["Seat"]["required"], json!(["player"]));
    let client = schema_for::<ClientMsg>();
    assert_eq!(
        client["oneOf"][1]["$comment"],
        "protocol:reply=moved protocol:fields=id?,game,cell"
    );
    // And the encoder does write what the list says: every field but the skipped ones.
    let board = ServerMsg::Board {
        game: "g".into(),
        cells: vec![None, Some(Mark::X)],
        seats: vec![Seat {
            player: "ann".into(),
            mark: None,
            since: None,
        }],
        next: None,
        turn_count: 1,
        winner: None,
        legacy: Some("old".into()),
    };
    assert_eq!(
        protocol_core::encode(&board).unwrap(),
        r#"{"type":"board","game":"g","cells":[null,"x"],"seats":[{"player":"ann","mark":null}],"next":null,"turnCount":1}"#
    );
}

#[test]
fn only_replies_and_the_error_carry_the_correlation_id() {
    let (_dir, dts) = export();
    let has_id = |ns: &str, name: &str| {
        members(&dts, ns, name)
            .iter()
            .any(|l| l.starts_with("id?: number;"))
    };
    assert!(!has_id("ServerMsg", "Board"), "a push answers no request");
    assert!(has_id("ServerMsg", "Moved"), "the reply of `move`");
    assert!(has_id("ServerMsg", "Error"), "the error reply");
    // The server reads an id on any client message.
    assert!(has_id("ClientMsg", "Create"));
    assert!(has_id("ClientMsg", "Move"));
}

#[test]
fn fields_keep_their_declaration_order() {
    let (_dir, dts) = export();
    let names = |ns: &str, name: &str| -> Vec<String> {
        members(&dts, ns, name)
            .iter()
            .filter_map(|l| l.split([':', '?']).next().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        names("ServerMsg", "Board"),
        [
            "type",
            "game",
            "cells",
            "seats",
            "next",
            "turnCount",
            "winner",
            "legacy"
        ]
    );
    assert_eq!(names("ServerMsg", "Seat"), ["player", "mark", "since"]);
    assert_eq!(
        names("ClientMsg", "Create"),
        ["type", "id", "name", "first", "private"]
    );
    assert_eq!(names("ClientMsg", "Move"), ["type", "id", "game", "cell"]);
    assert_eq!(
        names("ServerMsg", "Error"),
        ["type", "id", "code", "message", "pointer"]
    );
}

#[test]
fn python_models_and_reference_list_fields_in_declaration_order() {
    let files = spec().files().unwrap();
    let text = |name: &str| {
        files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.contents.clone())
            .unwrap()
    };
    let py = text("lobby.py");
    let pos = |hay: &str, needle: &str| {
        hay.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{hay}"))
    };
    let board = pos(&py, "class ServerMsgBoard");
    let after = &py[board..];
    let (game, cells, next) = (
        pos(after, "    game:"),
        pos(after, "    cells:"),
        pos(after, "    next:"),
    );
    assert!(game < cells && cells < next, "{after}");
    let md = text("lobby.md");
    let board = pos(&md, "`board`");
    let after = &md[board..];
    assert!(pos(after, "`game`") < pos(after, "`cells`"), "{after}");
    assert!(pos(after, "`cells`") < pos(after, "`next`"), "{after}");
}
