//! Stream roles in the exports: read from `VariantMeta` at registration, written into each
//! variant's `$comment` (so a schema file says what the types say), and turned into the
//! generated client's `STREAMS` table.

use protocol_core::{Protocol, Since};
use protocol_schema::Spec;
use serde_json::Value;

/// Messages a client of a small feed sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
enum FeedIn {
    /// Follow a feed.
    #[protocol(joins_stream = FeedOut::Following)]
    Follow { room: String, since: Option<Since> },
    /// Post to a feed.
    #[protocol(reply = FeedOut::Posted, publishes)]
    Post { room: String, text: String },
    /// Stop following.
    #[protocol(leaves_stream)]
    Unfollow { room: String },
    /// Not about streams.
    Ping,
}

/// Messages the feed server sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
enum FeedOut {
    /// You follow it now.
    Following {
        room: String,
        epoch: String,
        offset: u64,
        recovered: Option<bool>,
    },
    /// Your post's place.
    Posted { offset: u64 },
    /// A stored post.
    #[protocol(stream, rename = "item")]
    Post {
        room: String,
        offset: u64,
        text: String,
    },
    /// Not stored.
    Pong,
}

fn files() -> Vec<protocol_schema::ExportFile> {
    Spec::new("feed", "1.0.0")
        .client_to_server::<FeedIn>()
        .server_to_client::<FeedOut>()
        .files()
        .unwrap()
}

fn file(name: &str) -> String {
    files()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap()
        .contents
}

/// The `$comment` of the variant titled `title` in a schema file.
fn comment(schema: &Value, title: &str) -> String {
    schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["title"] == title)
        .unwrap()["$comment"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn schema_files_carry_the_roles_beside_the_reply() {
    let client: Value = serde_json::from_str(&file("feed.client.schema.json")).unwrap();
    let server: Value = serde_json::from_str(&file("feed.server.schema.json")).unwrap();
    assert_eq!(
        comment(&client, "Follow"),
        "protocol:stream=join:following protocol:fields=id?,room,since"
    );
    assert_eq!(
        comment(&client, "Post"),
        "protocol:stream=publish protocol:reply=posted protocol:fields=id?,room,text"
    );
    assert_eq!(
        comment(&client, "Unfollow"),
        "protocol:stream=leave protocol:fields=id?,room"
    );
    assert!(!comment(&client, "Ping").contains("protocol:stream="));
    assert_eq!(
        comment(&server, "Post"),
        "protocol:stream=stream protocol:fields=id?,room,offset,text"
    );
    assert!(!comment(&server, "Following").contains("protocol:stream="));
    // Still a schema every judge compiles: the roles are a comment, not a keyword.
    jsonschema::draft202012::options().build(&client).unwrap();
    jsonschema::draft202012::options().build(&server).unwrap();
}

#[test]
fn the_client_module_gets_the_table_by_wire_name() {
    let js = file("feed.client.js");
    let table = "const STREAMS = Object.freeze({\n  \
                 joins: Object.freeze({ follow: \"following\" }),\n  \
                 leaves: Object.freeze([\"unfollow\"]),\n  \
                 publishes: Object.freeze([\"post\"]),\n  \
                 messages: Object.freeze([\"item\"]),\n\
                 });\n";
    assert!(js.contains(table), "no STREAMS table in:\n{js}");
    // The declarations offer resume to every protocol (typed, documented).
    let dts = file("feed.client.d.ts");
    for item in [
        "onResume?: (result: ResumeResult) => void;",
        "positions(): StreamPosition[];",
        "resuming?: string[];",
    ] {
        assert!(dts.contains(item), "{item} missing from the .d.ts");
    }
}
