use protocol_core::Protocol;

#[derive(Protocol)]
#[protocol(tagg = "kind")]
enum Msg {
    #[protocol(renam = "x")]
    Join { room: String },
}

fn main() {}
