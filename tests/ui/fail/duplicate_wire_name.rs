use protocol_core::Protocol;

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum Msg {
    Join { room: String },
    #[protocol(rename = "join")]
    Enter { room: String },
    Leave { room: String },
    #[protocol(alias = "leave")]
    Quit { room: String },
}

fn main() {
    // No cascade: the enum still implements Protocol.
    let _ = protocol_core::decode::<Msg>("{}");
}
