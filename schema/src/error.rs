//! [`Error`]: what can go wrong, always naming the file involved.

use std::path::PathBuf;

/// An error of the schema tooling. Each names the path it is about and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not JSON.
    #[error("{} is not valid JSON: {source}", path.display())]
    Json {
        /// The path.
        path: PathBuf,
        /// Where and why parsing failed.
        source: serde_json::Error,
    },
    /// A JSON file is not a JSON Schema at all.
    #[error("{} is not a JSON Schema: {reason}", path.display())]
    NotASchema {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JSON Schema of a draft other than 2020-12.
    #[error(
        "{} is a JSON Schema of another draft ({found}); protocol-schema reads draft 2020-12 \
         (\"$schema\": \"https://json-schema.org/draft/2020-12/schema\")",
        path.display()
    )]
    WrongDraft {
        /// The path.
        path: PathBuf,
        /// The `$schema` it declares.
        found: String,
    },
    /// A JSON Schema 2020-12 that does not compile (a keyword of the wrong shape, a bad regex,
    /// a reference to nowhere).
    #[error("{} is not a valid JSON Schema 2020-12: {reason}", path.display())]
    InvalidSchema {
        /// The path.
        path: PathBuf,
        /// The validator's complaint.
        reason: String,
    },
    /// A valid JSON Schema that does not describe a protocol (no `oneOf` of tagged variants).
    #[error("{} is not a protocol schema: {reason}", path.display())]
    NotAProtocol {
        /// The path.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// An export directory does not hold the expected schema files.
    #[error("{}: {reason}", path.display())]
    ExportDir {
        /// The directory.
        path: PathBuf,
        /// What is missing or ambiguous.
        reason: String,
    },
    /// A [`crate::Spec`] that cannot be exported.
    #[error("cannot export the protocol: {0}")]
    Spec(String),
    /// Command-line arguments that do not fit together.
    #[error("{0}")]
    Usage(String),
}
