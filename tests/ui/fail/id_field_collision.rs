use protocol_core::Protocol;

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ServerMsg {
    Message { id: String, text: String },
}

fn main() {}
