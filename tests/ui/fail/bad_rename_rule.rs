use protocol_core::Protocol;

#[derive(Protocol)]
#[protocol(rename_all = "camelcase")]
enum Msg {
    Join { room: String },
}

fn main() {
    let _ = protocol_core::encode(&Msg::Join { room: String::new() });
}
