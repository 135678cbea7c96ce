//! Validating recorded traffic against an export's schemas.
//!
//! Traffic is JSONL, one frame per line, the format the test kit writes:
//! `{"from":"client"|"server","conn":N,"frame":{...}}`. Frames `from` the client are checked
//! against `<name>.client.schema.json`, frames from the server against `<name>.server.schema.json`.
//! The file is streamed line by line, so memory stays constant whatever its length.

use std::fmt;
use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::Value;

use crate::error::Error;
use crate::load::{find_in_dir, load_schema};
use crate::model::kind_of;
use crate::spec::Direction;

/// One reason a frame is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// JSON Pointer into the frame (`""` is the whole frame).
    pub pointer: String,
    /// What is wrong there.
    pub reason: String,
}

/// The schema of one direction, ready to check frames.
struct Checker {
    validators: jsonschema::ValidatorMap,
    tag: String,
    /// (accepted tags, validator key) per known variant.
    variants: Vec<(Vec<String>, String)>,
    catch_all: Option<String>,
    known: Vec<String>,
}

impl Checker {
    fn load(path: &Path) -> Result<Self, Error> {
        let (file, validators) = load_schema(path)?;
        let view = file.view()?;
        let variants = view
            .known()
            .map(|v| (v.tags.clone(), format!("#/oneOf/{}", v.index)))
            .collect();
        let catch_all = view.catch_all().map(|v| format!("#/oneOf/{}", v.index));
        let known = view.known().map(|v| v.wire.clone()).collect();
        Ok(Self {
            validators,
            tag: view.tag.clone(),
            variants,
            catch_all,
            known,
        })
    }

    fn failures_of(&self, key: &str, frame: &Value) -> Vec<Failure> {
        let Some(v) = self.validators.get(key) else {
            return Vec::new();
        };
        let errors: Vec<(Failure, bool)> = v
            .iter_errors(frame)
            .map(|e| {
                // "not valid under any of the schemas in oneOf/anyOf" only sums up the errors
                // inside; it says something only where no concrete error explains it.
                let summary = matches!(
                    e.kind(),
                    jsonschema::error::ValidationErrorKind::OneOfNotValid { .. }
                        | jsonschema::error::ValidationErrorKind::AnyOf { .. }
                );
                let failure = Failure {
                    pointer: e.instance_path().as_str().to_owned(),
                    reason: e.to_string(),
                };
                (failure, summary)
            })
            .collect();
        let explained = |at: &str| {
            errors.iter().any(|(f, summary)| {
                !summary
                    && (f.pointer == at
                        || f.pointer.starts_with(at) && f.pointer[at.len()..].starts_with('/'))
            })
        };
        errors
            .iter()
            .filter(|(f, summary)| !summary || !explained(&f.pointer))
            .map(|(f, _)| f.clone())
            .collect()
    }

    /// Why `frame` is invalid; empty when it is valid.
    fn check(&self, frame: &Value) -> Vec<Failure> {
        let valid = self.validators.get("#").is_none_or(|v| v.is_valid(frame));
        if valid {
            return Vec::new();
        }
        // Explain against the one variant the tag names, not against the whole `oneOf`.
        let precise = match frame.get(&self.tag) {
            Some(Value::String(t)) if frame.is_object() => {
                let variant = self.variants.iter().find(|(tags, _)| tags.contains(t));
                match (variant, &self.catch_all) {
                    (Some((_, key)), _) | (None, Some(key)) => self.failures_of(key, frame),
                    (None, None) => vec![Failure {
                        pointer: format!("/{}", self.tag.replace('~', "~0").replace('/', "~1")),
                        reason: format!(
                            "unknown message type {t:?}; expected one of: {}",
                            self.known.join(", ")
                        ),
                    }],
                }
            }
            _ => Vec::new(),
        };
        if precise.is_empty() {
            self.failures_of("#", frame)
        } else {
            precise
        }
    }
}

/// Checks traffic records against the two schemas of an export directory.
pub struct TrafficValidator {
    client: Checker,
    server: Checker,
}

impl fmt::Debug for TrafficValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrafficValidator")
            .field("client_tag", &self.client.tag)
            .field("server_tag", &self.server.tag)
            .finish_non_exhaustive()
    }
}

/// What validating a traffic file found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames checked from clients.
    pub client_frames: u64,
    /// Frames checked from the server.
    pub server_frames: u64,
    /// Frames that failed validation.
    pub failed: u64,
    /// Lines that are not traffic records (not JSON, no `from` or `frame`).
    pub bad_records: u64,
}

impl Summary {
    /// The exit status `protocol-schema validate` uses: 2 for bad records, 1 for invalid
    /// frames, 0 when everything is valid.
    pub fn exit_code(&self) -> u8 {
        if self.bad_records > 0 {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }
}

/// The outcome of one traffic line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A blank line.
    Blank,
    /// A valid frame.
    Valid {
        /// Who sent it.
        from: Direction,
    },
    /// An invalid frame.
    Invalid {
        /// Who sent it.
        from: Direction,
        /// The connection number, when the record has one.
        conn: Option<u64>,
        /// Why it is invalid.
        failures: Vec<Failure>,
    },
    /// A line that is not a traffic record.
    Bad {
        /// Why.
        reason: String,
    },
}

impl TrafficValidator {
    /// Load `<name>.client.schema.json` and `<name>.server.schema.json` from an export directory.
    ///
    /// # Errors
    ///
    /// An [`Error`] naming the directory or file: missing, ambiguous, unreadable, not JSON, not
    /// a draft 2020-12 schema, not compiling, or not a protocol schema.
    pub fn from_dir(dir: &Path) -> Result<Self, Error> {
        let client = Checker::load(&find_in_dir(dir, Direction::Client)?)?;
        let server = Checker::load(&find_in_dir(dir, Direction::Server)?)?;
        Ok(Self { client, server })
    }

    /// Load the two schema files given.
    ///
    /// # Errors
    ///
    /// As [`TrafficValidator::from_dir`].
    pub fn from_files(client: &Path, server: &Path) -> Result<Self, Error> {
        Ok(Self {
            client: Checker::load(client)?,
            server: Checker::load(server)?,
        })
    }

    /// Check one frame sent by `from`.
    pub fn check_frame(&self, from: Direction, frame: &Value) -> Vec<Failure> {
        match from {
            Direction::Client => self.client.check(frame),
            Direction::Server => self.server.check(frame),
        }
    }

    /// Check one line of a traffic file.
    pub fn check_line(&self, line: &[u8]) -> Record {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Record::Blank;
        }
        let record: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                return Record::Bad {
                    reason: format!("not JSON: {e}"),
                };
            }
        };
        let Some(obj) = record.as_object() else {
            return Record::Bad {
                reason: format!("expected a record object, found {}", kind_of(&record)),
            };
        };
        let from = match obj.get("from") {
            Some(Value::String(s)) if s == "client" => Direction::Client,
            Some(Value::String(s)) if s == "server" => Direction::Server,
            Some(other) => {
                return Record::Bad {
                    reason: format!("\"from\" must be \"client\" or \"server\", found {other}"),
                };
            }
            None => {
                return Record::Bad {
                    reason: "no \"from\" (\"client\" or \"server\")".into(),
                };
            }
        };
        let Some(frame) = obj.get("frame") else {
            return Record::Bad {
                reason: "no \"frame\"".into(),
            };
        };
        let conn = obj.get("conn").and_then(Value::as_u64);
        let failures = self.check_frame(from, frame);
        if failures.is_empty() {
            Record::Valid { from }
        } else {
            Record::Invalid {
                from,
                conn,
                failures,
            }
        }
    }

    /// Check every line of `input` (named `name` in messages), writing one line per failure to
    /// `out`: `NAME:LINE: client frame (conn N) at /pointer: reason`. Reads line by line.
    ///
    /// # Errors
    ///
    /// An I/O error reading `input` or writing `out`.
    pub fn validate_reader<R: BufRead, W: Write>(
        &self,
        mut input: R,
        name: &str,
        out: &mut W,
    ) -> std::io::Result<Summary> {
        let mut summary = Summary::default();
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            number += 1;
            match self.check_line(&line) {
                Record::Blank => {}
                Record::Valid { from } => count(&mut summary, from),
                Record::Invalid {
                    from,
                    conn,
                    failures,
                } => {
                    count(&mut summary, from);
                    summary.failed += 1;
                    let conn = conn.map(|c| format!(" (conn {c})")).unwrap_or_default();
                    for f in failures {
                        let pointer = if f.pointer.is_empty() {
                            "\"\" (the frame)".to_owned()
                        } else {
                            f.pointer
                        };
                        writeln!(
                            out,
                            "{name}:{number}: {from} frame{conn} at {pointer}: {}",
                            f.reason
                        )?;
                    }
                }
                Record::Bad { reason } => {
                    summary.bad_records += 1;
                    writeln!(out, "{name}:{number}: bad record: {reason}")?;
                }
            }
        }
        Ok(summary)
    }
}

fn count(summary: &mut Summary, from: Direction) {
    match from {
        Direction::Client => summary.client_frames += 1,
        Direction::Server => summary.server_frames += 1,
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} frames checked ({} from clients, {} from the server): {} invalid",
            self.client_frames + self.server_frames,
            self.client_frames,
            self.server_frames,
            self.failed
        )?;
        if self.bad_records > 0 {
            write!(
                f,
                ", {} lines that are not traffic records",
                self.bad_records
            )?;
        }
        Ok(())
    }
}
