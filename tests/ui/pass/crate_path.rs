//! `#[protocol(crate = "...")]`: a crate that reaches protocol_core through a re-export.

mod deps {
    pub use protocol_core as pc;
}

use deps::pc::{Context, ErrorReply};

#[derive(Debug, PartialEq, deps::pc::Protocol)]
#[protocol(crate = "crate::deps::pc", rename_all = "snake_case")]
enum ClientMsg {
    #[protocol(reply = ServerMsg::Pong)]
    Ping,
}

#[derive(Debug, PartialEq, deps::pc::Protocol)]
#[protocol(crate = "crate::deps::pc", rename_all = "snake_case")]
enum ServerMsg {
    Pong,
    Error(ErrorReply),
}

struct App;

impl ClientMsgHandler for App {
    type Out = ServerMsg;
    async fn on_ping(&self, _cx: &Context<ServerMsg>) -> Result<ServerMsgPong, ErrorReply> {
        Ok(ServerMsgPong)
    }
}

fn main() {
    assert_eq!(<ClientMsg as deps::pc::Protocol>::TYPES, &["ping"]);
    assert_eq!(deps::pc::encode(&ServerMsg::Pong).unwrap(), r#"{"type":"pong"}"#);
    let _ = App;
}
