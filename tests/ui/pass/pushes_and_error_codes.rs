use protocol_core::{ErrorReply, Protocol};

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ClientMsg {
    /// Say something.
    #[protocol(
        reply = ServerMsg::Sent,
        pushes(ServerMsg::Said = "other members", ServerMsg::Said = "sender"),
        error_codes("not_in_room", "too_long")
    )]
    Say { text: String },
    #[protocol(pushes(ServerMsg::Said = "everyone"))]
    #[protocol(error_codes("closed"))]
    Shout { text: String },
    Ping,
}

#[derive(Protocol)]
#[protocol(rename_all = "snake_case")]
enum ServerMsg {
    Sent { id_of_text: String },
    #[protocol(rename = "message")]
    Said { text: String },
    Error(ErrorReply),
}

fn main() {
    let say = ClientMsg::meta_by_name("Say").unwrap();
    let pushes: Vec<(&str, &str, &str)> = say
        .pushes()
        .iter()
        .map(|p| (p.variant(), p.wire_name(), p.to()))
        .collect();
    assert_eq!(
        pushes,
        [("Said", "message", "other members"), ("Said", "message", "sender")]
    );
    assert_eq!(say.error_codes(), ["not_in_room", "too_long"]);
    let shout = ClientMsg::meta_by_name("Shout").unwrap();
    assert_eq!(shout.pushes()[0].to(), "everyone");
    assert_eq!(shout.error_codes(), ["closed"]);
    let ping = ClientMsg::meta_by_name("Ping").unwrap();
    assert!(ping.pushes().is_empty() && ping.error_codes().is_empty());
}
