use protocol_core::Protocol;

#[derive(Protocol)]
enum Msg {
    Move(i32, i32),
    Empty(),
}

fn main() {}
