use protocol_core::Protocol;

#[derive(Protocol)]
enum ServerMsg {
    /// A stored message must carry its position.
    #[protocol(stream)]
    Said { room: String, text: String },
    /// The offset must be a `u64` and always written.
    #[protocol(stream)]
    Renamed {
        room: String,
        #[serde(skip_serializing_if = "is_zero")]
        offset: u64,
    },
    Joined { room: String },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn main() {}
