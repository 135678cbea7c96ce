//! The exports for people and for Python: example frames valid against the schema and decoded by
//! the Rust decoder, the sample corpus sorted by the decoder and agreed with by the schema, the
//! reference's sections and diagrams, and the Python module's models.

mod protocols;

use protocol_schema::{Direction, Spec};
use protocols::{clash, spec};
use serde_json::Value;

fn file(spec: &Spec, suffix: &str) -> String {
    spec.files()
        .unwrap()
        .into_iter()
        .find(|f| f.name.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {suffix} file"))
        .contents
}

fn validators(spec: &Spec) -> [(Direction, jsonschema::Validator); 2] {
    [Direction::Client, Direction::Server].map(|d| {
        let schema: Value = serde_json::from_str(&file(spec, d.schema_suffix())).unwrap();
        (d, jsonschema::validator_for(&schema).unwrap())
    })
}

fn validator(v: &[(Direction, jsonschema::Validator); 2], d: Direction) -> &jsonschema::Validator {
    &v.iter().find(|(x, _)| *x == d).unwrap().1
}

#[test]
fn every_example_frame_validates_and_decodes() {
    for spec in [spec(), clash::spec()] {
        let v = validators(&spec);
        let examples = spec.examples().unwrap();
        assert!(examples.len() >= 3, "{}: {examples:?}", spec.name());
        for e in &examples {
            assert_eq!(
                e.decode_error,
                None,
                "{}: {} does not decode",
                spec.name(),
                e.frame
            );
            let doc: Value = serde_json::from_str(&e.frame).unwrap();
            let errors: Vec<String> = validator(&v, e.direction)
                .iter_errors(&doc)
                .map(|err| err.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{}: {} is not valid: {errors:?}",
                spec.name(),
                e.frame
            );
        }
    }
    // Requests and their replies carry the correlation id; the tag comes first.
    let examples = spec().examples().unwrap();
    let find = |d: Direction, v: &str| {
        examples
            .iter()
            .find(|e| e.direction == d && e.variant == v)
            .unwrap()
            .frame
            .clone()
    };
    assert_eq!(
        find(Direction::Client, "Message"),
        r#"{"type":"message","id":1,"room":"room","text":"text"}"#
    );
    assert_eq!(
        find(Direction::Server, "Sent"),
        r#"{"type":"sent","id":1,"messageId":"messageId"}"#
    );
    assert_eq!(find(Direction::Client, "Ping"), r#"{"type":"ping"}"#);
    assert_eq!(
        find(Direction::Server, "Unknown"),
        r#"{"type":"future_type"}"#
    );
}

#[test]
fn the_schema_sorts_the_sample_corpus_as_the_decoder_does() {
    for spec in [spec(), clash::spec()] {
        let v = validators(&spec);
        let samples = spec.samples().unwrap();
        let valid = samples.iter().filter(|s| s.is_valid()).count();
        let invalid = samples.len() - valid;
        assert!(
            valid >= 10 && invalid >= 10,
            "{}: {valid} valid, {invalid} invalid",
            spec.name()
        );
        for s in &samples {
            let doc: Value = serde_json::from_str(&s.frame).unwrap();
            assert_eq!(
                validator(&v, s.direction).is_valid(&doc),
                s.is_valid(),
                "{}: {} decodes: {:?}",
                spec.name(),
                s.frame,
                s.decode_error
            );
        }
    }
}

#[test]
fn the_reference_has_a_section_per_message_and_a_diagram_per_request() {
    let spec = spec();
    let md = file(&spec, ".md");
    let html = file(&spec, ".html");
    let client = ["join", "message", "read", "draw", "moved", "ping"];
    let server = ["joined", "sent", "message", "moved", "error", "unknown"];
    for (d, names) in [("client", &client[..]), ("server", &server[..])] {
        for n in names {
            let id = format!("{d}-{n}");
            assert!(md.contains(&format!("<a id=\"{id}\"></a>")), "md: no {id}");
            assert!(
                html.contains(&format!("<section class=\"message\" id=\"{id}\">")),
                "html: no {id}"
            );
        }
    }
    assert_eq!(md.matches("```mermaid\n").count(), client.len());
    assert_eq!(
        html.matches("<figure class=\"diagram\"").count(),
        client.len()
    );
    assert_eq!(html.matches("<svg ").count(), client.len());
    // Self-contained: no script, no stylesheet or image from elsewhere.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src="));
    assert!(!html.contains("href=\"http"));
    // The metadata the derive carries: reply, pushes, error codes.
    assert!(md.contains("- Request: answered by [`sent`](#server-sent) with the same `id`."));
    assert!(md.contains("- Causes [`message`](#server-message) to room."));
    assert!(md.contains("- Reply to [`message`](#client-message), with the request's `id`."));
    assert!(md.contains("- Sent to everyone when the server handles [`moved`](#client-moved)."));
    assert!(md.contains(
        "- Error codes: `not_in_room`, `invalid_message`, `rate_limited`, `internal_error`, `timeout`."
    ));
    assert!(md.contains("    P0->>P1: message (id: 1)\n    alt handled\n        P1-->>P0: sent (id: 1)\n        P1-->>P2: message\n    else rejected\n        P1-->>P0: error (id: 1, code: not_in_room)\n    end\n"));
    // Field tables: type in words, range, aliases.
    assert!(
        md.contains("| `messageId` | string | required |  | `msgId` |  | The message. |"),
        "{md}"
    );
    assert!(md.contains("| `counter` | integer | required | 0 to 18446744073709551615 |"));
    assert!(md.contains("| `path` | array of [Position](#client-type-position) | required |"));
    assert!(md.contains("Also accepted with the tag `\"seen\"` (the encoder writes `\"read\"`)."));
    // The example frame is the one examples() checks.
    assert!(md.contains(
        "```json\n{\"type\":\"message\",\"id\":1,\"room\":\"room\",\"text\":\"text\"}\n```"
    ));
    assert!(html.contains("{&quot;type&quot;:&quot;message&quot;,&quot;id&quot;:1,"));
}

#[test]
fn the_python_module_has_a_model_and_a_typed_dict_per_message() {
    let py = file(&spec(), ".py");
    for class in [
        "ClientMsgJoin",
        "ClientMsgMessage",
        "ClientMsgRead",
        "ClientMsgDraw",
        "ClientMsgMoved",
        "ClientMsgPing",
        "ServerMsgJoined",
        "ServerMsgSent",
        "ServerMsgMessage",
        "ServerMsgMoved",
        "ServerMsgError",
    ] {
        assert!(
            py.contains(&format!("\nclass {class}(_Model):\n")),
            "no model {class}"
        );
        assert!(
            py.contains(&format!("\nclass {class}Dict(TypedDict):\n"))
                || py.contains(&format!("\n{class}Dict = TypedDict(\n")),
            "no typed dict {class}Dict"
        );
    }
    assert!(py.contains("    type: Literal[\"read\", \"seen\"] = \"read\"\n"));
    assert!(py.contains("validation_alias=AliasChoices(\"messageId\", \"msgId\")"));
    assert!(py.contains("    from_: str = Field(alias=\"from\", description=\"The author.\")\n"));
    assert!(py.contains("counter: Annotated[int, Field(ge=0, le=18446744073709551615)]"));
    assert!(py.contains("    Field(discriminator=\"type\"),\n"));
    assert!(py.contains("ClientMsgAdapter: TypeAdapter[ClientMsg] = TypeAdapter(ClientMsg)\n"));
    assert!(
        py.contains("def parse_server_msg(frame: str | bytes) -> ServerMsg | ServerMsgUnknown:")
    );
    // extra="forbid" exactly where the schema denies other properties (the Rust enum's variants).
    assert_eq!(py.matches("extra=\"forbid\"").count(), 2, "{py}");
    // The clash protocol's custom tag and kebab-case names.
    let clash_py = file(&clash::spec(), ".py");
    assert!(clash_py.contains("    kind: Literal[\"message-type\"] = \"message-type\"\n"));
    assert!(clash_py.contains("    Field(discriminator=\"kind\"),\n"));
}
