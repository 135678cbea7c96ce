use protocol_core::Protocol;

#[derive(Protocol)]
enum Msg<'a> {
    Text { text: &'a str },
}

fn main() {}
