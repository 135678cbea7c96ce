use protocol_core::{Protocol, Since};

#[derive(Protocol)]
enum ServerMsg {
    /// The offset is a u64.
    #[protocol(stream)]
    Said { room: String, offset: i64 },
    /// An announcement names the room's epoch and offset.
    Joined { room: String, offset: u64 },
    /// A publishing request's reply carries the offset.
    Sent { message_id: String },
}

#[derive(Protocol)]
enum ClientMsg {
    #[protocol(joins_stream = ServerMsg::Joined)]
    Join { room: String, since: Option<Since> },
    #[protocol(publishes, reply = ServerMsg::Sent)]
    Post { room: String },
}

fn main() {}
