//! The chat's exports for people and for Python: every example frame of the reference is valid
//! against the exported schema and decodes, and the schema sorts the chat's sample corpus as the
//! decoder does. (The committed files themselves are drift-checked by `chat-schema check`.)

use protocol_core::Protocol;
use serde_json::Value;

fn validator(direction: &str) -> jsonschema::Validator {
    let file = chat_example::spec()
        .files()
        .unwrap()
        .into_iter()
        .find(|f| f.name == format!("chat.{direction}.schema.json"))
        .unwrap();
    let schema: Value = serde_json::from_str(&file.contents).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn every_chat_example_frame_validates_and_decodes() {
    let (client, server) = (validator("client"), validator("server"));
    let examples = chat_example::spec().examples().unwrap();
    assert_eq!(
        examples.len(),
        chat_example::ClientMsg::VARIANTS.len() + chat_example::ServerMsg::VARIANTS.len(),
        "one example per message of both directions"
    );
    for e in &examples {
        assert_eq!(e.decode_error, None, "{} does not decode", e.frame);
        let doc: Value = serde_json::from_str(&e.frame).unwrap();
        let v = if e.direction.as_str() == "client" {
            &client
        } else {
            &server
        };
        assert!(
            v.is_valid(&doc),
            "{} is not valid against the schema",
            e.frame
        );
    }
    let frames: Vec<&str> = examples.iter().map(|e| e.frame.as_str()).collect();
    assert!(frames.contains(&r#"{"type":"message","id":1,"room":"room","text":"text"}"#));
    assert!(frames.contains(&r#"{"type":"error","code":"code","message":"message"}"#));
}

#[test]
fn the_chat_schema_sorts_the_chat_sample_corpus_as_the_decoder_does() {
    let (client, server) = (validator("client"), validator("server"));
    let samples = chat_example::spec().samples().unwrap();
    let valid = samples.iter().filter(|s| s.is_valid()).count();
    assert!(
        valid >= 20 && samples.len() - valid >= 100,
        "{valid} of {}",
        samples.len()
    );
    for s in &samples {
        let doc: Value = serde_json::from_str(&s.frame).unwrap();
        let v = if s.direction.as_str() == "client" {
            &client
        } else {
            &server
        };
        assert_eq!(
            v.is_valid(&doc),
            s.is_valid(),
            "{}: {:?}",
            s.frame,
            s.decode_error
        );
    }
}
