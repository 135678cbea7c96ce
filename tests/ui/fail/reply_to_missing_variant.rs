use protocol_core::{ErrorReply, Protocol};

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ClientMsg {
    #[protocol(reply = ServerMsg::Snet)]
    Message { text: String },
}

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ServerMsg {
    Sent { message_id: String },
    Error(ErrorReply),
}

fn main() {}
