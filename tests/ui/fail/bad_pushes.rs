use protocol_core::{ErrorReply, Protocol};

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ClientMsg {
    #[protocol(pushes(ServerMsg::Said))]
    NoRecipient,
    #[protocol(pushes(Said = "room"))]
    NoEnum,
    #[protocol(pushes(ServerMsg::Said = "room; drop"))]
    BadRecipient,
    #[protocol(pushes(ServerMsg::Said = "room", ServerMsg::Said = "room"))]
    Twice,
    #[protocol(error_codes("not in room", "ok", "ok"))]
    BadCodes,
    #[protocol(reply = ServerMsg::Said, pushes(OtherMsg::Hello = "room"))]
    OtherEnum,
    #[protocol(other, pushes(ServerMsg::Said = "room"))]
    Unknown { r#type: String, raw: serde_json::Value },
}

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ServerMsg {
    Said { text: String },
    Error(ErrorReply),
}

#[derive(Protocol)]
enum OtherMsg {
    Hello,
}

fn main() {}
