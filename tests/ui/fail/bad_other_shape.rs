use protocol_core::Protocol;

#[derive(Protocol)]
enum Msg {
    Join { room: String },
    #[protocol(other)]
    Unknown,
}

fn main() {}
