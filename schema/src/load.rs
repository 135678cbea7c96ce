//! Reading exported schema files back, with an error that names the file for every way a file
//! can be wrong: unreadable, not JSON, not a schema, another draft, not compiling, not a protocol.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;
use crate::model::{ProtocolView, kind_of};
use crate::spec::Direction;

/// The `$schema` of JSON Schema 2020-12.
pub(crate) const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// A protocol schema read from a file and checked.
#[derive(Debug)]
pub(crate) struct SchemaFile {
    /// Where it came from.
    pub path: PathBuf,
    /// The schema.
    pub schema: Value,
}

impl SchemaFile {
    /// The protocol structure (it parsed when the file was loaded).
    pub fn view(&self) -> Result<ProtocolView<'_>, Error> {
        ProtocolView::parse(&self.schema).map_err(|reason| Error::NotAProtocol {
            path: self.path.clone(),
            reason,
        })
    }
}

/// Read and check a schema file; returns it with its validator map (keyed by `#`, `#/oneOf/0`, ...).
pub(crate) fn load_schema(path: &Path) -> Result<(SchemaFile, jsonschema::ValidatorMap), Error> {
    let text = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let schema: Value = serde_json::from_slice(&text).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    let not_a_schema = |reason: String| Error::NotASchema {
        path: path.to_owned(),
        reason,
    };
    let obj = schema.as_object().ok_or_else(|| {
        not_a_schema(format!(
            "expected an object with \"$schema\", found {}",
            kind_of(&schema)
        ))
    })?;
    match obj.get("$schema") {
        None => {
            return Err(not_a_schema(
                "it has no \"$schema\" (protocol schemas declare draft 2020-12)".into(),
            ));
        }
        Some(Value::String(s)) => {
            if s.trim_end_matches('#') != DRAFT_2020_12 {
                return Err(Error::WrongDraft {
                    path: path.to_owned(),
                    found: s.clone(),
                });
            }
        }
        Some(other) => {
            return Err(not_a_schema(format!(
                "its \"$schema\" is {}, not a URI",
                kind_of(other)
            )));
        }
    }
    let invalid = |e: jsonschema::ValidationError<'_>| Error::InvalidSchema {
        path: path.to_owned(),
        reason: describe_compile_error(&e),
    };
    // The whole schema first: a map leaves out the subschemas that fail to compile.
    jsonschema::draft202012::options()
        .build(&schema)
        .map_err(invalid)?;
    let validators = jsonschema::draft202012::options()
        .build_map(&schema)
        .map_err(invalid)?;
    let file = SchemaFile {
        path: path.to_owned(),
        schema,
    };
    file.view()?;
    Ok((file, validators))
}

fn describe_compile_error(e: &jsonschema::ValidationError<'_>) -> String {
    let at = e.instance_path().as_str();
    if at.is_empty() {
        e.to_string()
    } else {
        format!("{e} (at {at})")
    }
}

/// The one schema of `direction` in an export directory (`*.client.schema.json`).
pub(crate) fn find_in_dir(dir: &Path, direction: Direction) -> Result<PathBuf, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_owned(),
        source,
    })?;
    let suffix = direction.schema_suffix();
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(suffix) {
            found.push(entry.path());
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::ExportDir {
            path: dir.to_owned(),
            reason: format!("no *{suffix} file here (is it an export directory?)"),
        }),
        _ => Err(Error::ExportDir {
            path: dir.to_owned(),
            reason: format!(
                "more than one *{suffix} file ({}); pass the schema files themselves",
                found
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}
