use protocol_core::Protocol;

#[derive(Protocol)]
#[serde(tag = "kind")]
enum Msg {
    #[serde(rename = "j")]
    Join { room: String },
}

fn main() {}
