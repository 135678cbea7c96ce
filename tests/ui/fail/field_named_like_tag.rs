use protocol_core::Protocol;

#[derive(Protocol)]
#[protocol(rename_all_fields = "camelCase")]
enum Msg {
    Join {
        room: String,
        #[serde(rename = "type")]
        kind: String,
    },
}

fn main() {}
