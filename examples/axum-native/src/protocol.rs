//! The counter room's messages: one enum per direction, the single source of truth for the
//! wire format, the JSON Schema and the generated `ClientMsgHandler` trait.

use protocol_core::{ErrorReply, Protocol};

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Enter the room under a name (1 to 32 of `A-Z a-z 0-9 _ -`, not taken by someone else in
    /// the room). The answer is `welcome`; everyone else gets `arrived`.
    #[protocol(reply = ServerMsg::Welcome)]
    Hello {
        /// The name the others see.
        name: String,
    },
    /// Add to the shared counter (negative to subtract). The answer is `added`; everyone else
    /// gets `counted`.
    #[protocol(reply = ServerMsg::Added)]
    Add {
        /// How much to add.
        by: i64,
    },
    /// Say something (1 to 500 characters) to everyone else in the room: they get `said`.
    Say {
        /// What to say.
        text: String,
    },
}

/// What the server sends: replies (with the request's `id`), pushes and error replies.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ServerMsg {
    /// The answer to `hello`: the counter and who is in the room (sorted, you included).
    Welcome {
        /// The counter.
        count: i64,
        /// The names in the room.
        here: Vec<String>,
    },
    /// The answer to `add`: the counter after it.
    Added {
        /// The counter.
        count: i64,
    },
    /// Someone else changed the counter.
    Counted {
        /// The counter after the change.
        count: i64,
        /// The change.
        by: i64,
        /// Who changed it.
        from: String,
    },
    /// Someone entered the room.
    Arrived {
        /// Their name.
        name: String,
    },
    /// Someone said something.
    Said {
        /// Who said it.
        from: String,
        /// What they said.
        text: String,
    },
    /// Someone left the room (their socket closed).
    Left {
        /// Their name.
        name: String,
    },
    /// An error reply: `invalid_json`, `unknown_type`, `invalid_message` from the codec, or
    /// `not_introduced`, `name_taken`, `already_introduced` from the handlers.
    Error(ErrorReply),
}
