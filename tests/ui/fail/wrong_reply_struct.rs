use protocol_core::{Context, ErrorReply, Protocol};

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ClientMsg {
    #[protocol(reply = ServerMsg::Joined)]
    Create { game: String },
}

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ServerMsg {
    Joined { game: String },
    Moved { cell: u8 },
    Error(ErrorReply),
}

struct Lobby;

impl ClientMsgHandler for Lobby {
    type Out = ServerMsg;

    // Even written with the reply types: `moved` is not `joined`.
    async fn on_create(&self, _cx: &Context<ServerMsg>, game: String) -> Result<ServerMsgJoined, ErrorReply> {
        let _ = game;
        Ok(ServerMsgMoved { cell: 4 })
    }
}

fn main() {}
