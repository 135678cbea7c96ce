use protocol_core::{ErrorReply, Protocol};

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ClientMsg {
    #[protocol(pushes(ServerMsg::Sadi = "room"))]
    Say { text: String },
}

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ServerMsg {
    Said { text: String },
    Error(ErrorReply),
}

fn main() {}
