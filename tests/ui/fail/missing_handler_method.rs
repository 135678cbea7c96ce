use protocol_core::{Context, ErrorReply, Protocol};

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ClientMsg {
    Join { room: String },
    Leave { room: String },
}

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ServerMsg {
    Error(ErrorReply),
}

struct App;

impl ClientMsgHandler for App {
    type Out = ServerMsg;

    async fn on_join(&self, _cx: &Context<ServerMsg>, _room: String) -> Result<(), ErrorReply> {
        Ok(())
    }
}

fn main() {}
