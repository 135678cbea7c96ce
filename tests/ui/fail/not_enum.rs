use protocol_core::Protocol;

#[derive(Protocol)]
struct Message {
    text: String,
}

fn main() {}
