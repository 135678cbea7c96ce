use protocol_core::Protocol;

#[derive(Protocol)]
enum Msg {
    Join { room: String },
    #[protocol(other)]
    Unknown { r#type: String, raw: serde_json::Value },
    #[protocol(other)]
    Unknown2 { r#type: String, raw: serde_json::Value },
}

fn main() {}
