use protocol_core::Protocol;

#[derive(Protocol)]
enum ServerMsg {
    Joined { room: String, offset: u64 },
    Sent { message_id: String },
}

#[derive(Protocol)]
enum ClientMsg {
    /// Needs `since`, and an announcement naming the room's epoch.
    #[protocol(joins_stream = ServerMsg::Joined)]
    Join { room: String },
    /// A publishing message is a request whose reply carries the offset.
    #[protocol(publishes)]
    Say { room: String },
    /// At most one role.
    #[protocol(leaves_stream, publishes)]
    Leave { room: String },
    #[protocol(leaves_stream)]
    Quit { channel: String },
}

fn main() {}
