use protocol_core::{ErrorReply, Hub, Protocol};

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ClientMsg {
    Ping,
}

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ServerMsg {
    Error(ErrorReply),
}

struct App;

fn main() {
    let hub = Hub::<ServerMsg>::new();
    let (cx, _inbox) = hub.attach("alice");
    let _ = protocol_core::dispatch_frame::<ClientMsg, App>(&App, &cx, "{}");
}
