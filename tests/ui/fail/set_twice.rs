use protocol_core::Protocol;

#[derive(Protocol)]
#[protocol(tag = "type", tag = "kind")]
enum Msg {
    #[protocol(rename = "a")]
    #[protocol(rename = "b")]
    Join { room: String },
}

fn main() {}
