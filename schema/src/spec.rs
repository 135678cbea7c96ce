//! [`Spec`]: a protocol's two directions, and the files exported from them.

use std::fmt;
use std::path::{Path, PathBuf};

use protocol_core::{Protocol, StreamRole, VariantMeta, schema_for};
use serde_json::Value;

use crate::error::Error;
use crate::json::to_file_text;
use crate::model::{ProtocolView, STREAM_COMMENT, StreamPart, VariantView};
use crate::names::Names;
use crate::{asyncapi, client, python, reference, typescript};

/// The one place that reads which reply a request variant declares (its wire name in the other
/// direction's enum).
fn reply_of(meta: &VariantMeta) -> Option<&'static str> {
    meta.reply()
}

/// The one place that reads a variant's part in room streams (and, for a join, the wire name of
/// the message that announces it).
fn stream_part_of(meta: &VariantMeta) -> Option<StreamPart> {
    match meta.stream_role()? {
        StreamRole::Stream => Some(StreamPart::Stream),
        StreamRole::Join => Some(StreamPart::Join {
            announced_by: meta.announced_by().map(str::to_owned),
        }),
        StreamRole::Leave => Some(StreamPart::Leave),
        StreamRole::Publish => Some(StreamPart::Publish),
        // A role this version of the tooling does not know: exported as no role.
        _ => None,
    }
}

/// Puts each variant's stream part into its `$comment` (beside `protocol:reply=`), so a schema
/// read back from a file says what the Rust types say.
fn annotate_streams(schema: &mut Value, variants: &[VariantMeta]) {
    let Some(Value::Array(one_of)) = schema.get_mut("oneOf") else {
        return;
    };
    for meta in variants {
        let Some(part) = stream_part_of(meta) else {
            continue;
        };
        let Some(Value::Object(obj)) = one_of
            .iter_mut()
            .find(|v| v.get("title").and_then(Value::as_str) == Some(meta.name))
        else {
            continue;
        };
        let token = format!("{STREAM_COMMENT}{}", part.token());
        let comment = match obj.get("$comment").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => format!("{token} {c}"),
            _ => token,
        };
        obj.insert("$comment".into(), comment.into());
    }
}

/// The one place that reads the correlation id field of a protocol enum.
fn id_field_of<T: Protocol>() -> &'static str {
    T::ID_FIELD
}

/// Which way a direction's messages travel, named after their sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Client to server: the client writes, the server reads (`<name>.client.schema.json`).
    Client,
    /// Server to client: the server writes, the client reads (`<name>.server.schema.json`).
    Server,
}

impl Direction {
    /// `"client"` or `"server"`, as in file names and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
        }
    }

    /// `"client -> server"` or `"server -> client"`.
    pub fn flow(self) -> &'static str {
        match self {
            Self::Client => "client -> server",
            Self::Server => "server -> client",
        }
    }

    /// The file name suffix of this direction's schema: `.client.schema.json`.
    pub fn schema_suffix(self) -> &'static str {
        match self {
            Self::Client => ".client.schema.json",
            Self::Server => ".server.schema.json",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One direction as registered: the enum's schema and what the schema does not say.
#[derive(Debug, Clone)]
struct Registered {
    type_name: String,
    schema: Value,
    /// (Rust variant name, reply wire name) for each variant that declares a reply.
    replies: Vec<(&'static str, &'static str)>,
    /// (Rust variant name, pushed wire name, recipient) for each `pushes` entry.
    pushes: Vec<(&'static str, &'static str, &'static str)>,
    /// (Rust variant name, error codes) for each variant that declares them.
    error_codes: Vec<(&'static str, &'static [&'static str])>,
    id_field: &'static str,
    /// The Rust decoder of the enum: `Err` with its message when a frame does not decode.
    decode: fn(&str) -> Result<(), String>,
}

fn decode_with<T: Protocol>(frame: &str) -> Result<(), String> {
    protocol_core::decode::<T>(frame)
        .map(drop)
        .map_err(|e| e.to_string())
}

impl Registered {
    fn of<T: Protocol>(type_name: Option<&str>) -> Self {
        let mut schema = schema_for::<T>();
        annotate_streams(&mut schema, T::VARIANTS);
        let type_name = match type_name {
            Some(n) => n.to_owned(),
            None => schema.get("title").and_then(Value::as_str).map_or_else(
                || {
                    let full = std::any::type_name::<T>();
                    full.rsplit("::").next().unwrap_or(full).to_owned()
                },
                str::to_owned,
            ),
        };
        Self {
            type_name,
            schema,
            replies: T::VARIANTS
                .iter()
                .filter_map(|m| reply_of(m).map(|r| (m.name, r)))
                .collect(),
            pushes: T::VARIANTS
                .iter()
                .flat_map(|m| m.pushes().iter().map(|p| (m.name, p.wire_name(), p.to())))
                .collect(),
            error_codes: T::VARIANTS
                .iter()
                .filter(|m| !m.error_codes().is_empty())
                .map(|m| (m.name, m.error_codes()))
                .collect(),
            id_field: id_field_of::<T>(),
            decode: decode_with::<T>,
        }
    }
}

/// A protocol's two directions, and everything exported from them.
///
/// ```
/// use protocol_core::Protocol;
/// use protocol_schema::Spec;
///
/// /// Messages a chat client sends.
/// #[derive(Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ClientMsg {
///     /// Join a room.
///     Join { room: String },
/// }
///
/// /// Messages the chat server sends.
/// #[derive(Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ServerMsg {
///     /// You are in.
///     Joined { room: String, members: Vec<String> },
/// }
///
/// let spec = Spec::new("chat", "1.0.0")
///     .client_to_server::<ClientMsg>()
///     .server_to_client::<ServerMsg>();
/// let names: Vec<String> = spec.files()?.into_iter().map(|f| f.name).collect();
/// assert_eq!(names, [
///     "chat.client.schema.json",
///     "chat.server.schema.json",
///     "chat.d.ts",
///     "chat.js",
///     "chat.asyncapi.json",
///     "chat.client.js",
///     "chat.client.d.ts",
///     "chat.py",
///     "chat.md",
///     "chat.html",
/// ]);
/// # Ok::<(), protocol_schema::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Spec {
    name: String,
    version: String,
    title: Option<String>,
    description: Option<String>,
    base_uri: Option<String>,
    address: Option<String>,
    client: Option<Registered>,
    server: Option<Registered>,
}

/// One exported file: its name inside the export directory, and its full text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    /// The file name, e.g. `chat.client.schema.json`.
    pub name: String,
    /// The file's text (UTF-8, ending with a newline).
    pub contents: String,
}

impl Spec {
    /// A protocol called `name` (used in file names: letters, digits, `.`, `-`, `_`) at `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            title: None,
            description: None,
            base_uri: None,
            address: None,
            client: None,
            server: None,
        }
    }

    /// The enum of the messages clients send; its TypeScript name is the Rust enum's name.
    pub fn client_to_server<T: Protocol>(mut self) -> Self {
        self.client = Some(Registered::of::<T>(None));
        self
    }

    /// Like [`Spec::client_to_server`], with the TypeScript (and AsyncAPI) name given.
    pub fn client_to_server_named<T: Protocol>(mut self, type_name: &str) -> Self {
        self.client = Some(Registered::of::<T>(Some(type_name)));
        self
    }

    /// The enum of the messages the server sends; its TypeScript name is the Rust enum's name.
    pub fn server_to_client<T: Protocol>(mut self) -> Self {
        self.server = Some(Registered::of::<T>(None));
        self
    }

    /// Like [`Spec::server_to_client`], with the TypeScript (and AsyncAPI) name given.
    pub fn server_to_client_named<T: Protocol>(mut self, type_name: &str) -> Self {
        self.server = Some(Registered::of::<T>(Some(type_name)));
        self
    }

    /// A human title for the AsyncAPI document and the TypeScript header (default: the name).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// A description for the AsyncAPI document.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Where the schemas are published: each schema's `$id` becomes this prefix followed by its
    /// file name (`https://example.com/schemas/` -> `https://example.com/schemas/chat.client.schema.json`).
    /// Without it the `$id` is `urn:protocol-schema:<name>:<version>:client` (or `:server`).
    pub fn base_uri(mut self, uri: impl Into<String>) -> Self {
        self.base_uri = Some(uri.into());
        self
    }

    /// The WebSocket path of the AsyncAPI channel, e.g. `/ws` (default: left unspecified).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The protocol's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exported file names, in the order [`Spec::files`] returns them.
    pub fn file_names(&self) -> Vec<String> {
        let n = &self.name;
        vec![
            format!("{n}{}", Direction::Client.schema_suffix()),
            format!("{n}{}", Direction::Server.schema_suffix()),
            format!("{n}.d.ts"),
            format!("{n}.js"),
            format!("{n}.asyncapi.json"),
            format!("{n}.client.js"),
            format!("{n}.client.d.ts"),
            format!("{n}.py"),
            format!("{n}.md"),
            format!("{n}.html"),
        ]
    }

    fn check_setup(&self) -> Result<(&Registered, &Registered), Error> {
        let valid_name = !self.name.is_empty()
            && !self.name.starts_with('.')
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !valid_name {
            return Err(Error::Spec(format!(
                "protocol name {:?} cannot be used in file names: use letters, digits, `.`, `-` and `_`",
                self.name
            )));
        }
        if self.version.trim().is_empty() {
            return Err(Error::Spec("the protocol version is empty".into()));
        }
        let client = self.client.as_ref().ok_or_else(|| {
            Error::Spec(
                "no client-to-server enum: add `.client_to_server::<YourClientMsg>()`".into(),
            )
        })?;
        let server = self.server.as_ref().ok_or_else(|| {
            Error::Spec(
                "no server-to-client enum: add `.server_to_client::<YourServerMsg>()`".into(),
            )
        })?;
        if client.type_name == server.type_name {
            return Err(Error::Spec(format!(
                "both directions are named `{}` in TypeScript and AsyncAPI; name one with \
                 `client_to_server_named` or `server_to_client_named`",
                client.type_name
            )));
        }
        Ok((client, server))
    }

    fn schema_with_id(&self, reg: &Registered, direction: Direction) -> Value {
        let mut schema = reg.schema.clone();
        let id = match &self.base_uri {
            Some(base) => format!("{base}{}{}", self.name, direction.schema_suffix()),
            None => format!(
                "urn:protocol-schema:{}:{}:{direction}",
                self.name, self.version
            ),
        };
        if let Value::Object(obj) = &mut schema {
            obj.insert("$id".into(), id.into());
            obj.insert("title".into(), reg.type_name.clone().into());
        }
        schema
    }

    /// Every exported file, generated in memory: the two schemas, the TypeScript declarations
    /// and their runtime guards, the AsyncAPI document, and the typed client with its
    /// declarations.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] when a direction is missing, the name is unusable in file names, both
    /// enums have the same name, or a request names a reply the other direction lacks.
    pub fn files(&self) -> Result<Vec<ExportFile>, Error> {
        let (client, server) = self.check_setup()?;
        let client_schema = self.schema_with_id(client, Direction::Client);
        let server_schema = self.schema_with_id(server, Direction::Server);
        let mut client_dir = DirectionView::new(Direction::Client, client, &client_schema)?;
        let mut server_dir = DirectionView::new(Direction::Server, server, &server_schema)?;
        client_dir.link_replies(client, &server_dir)?;
        server_dir.link_replies(server, &client_dir)?;
        client_dir.link_docs(client, &server_dir)?;
        server_dir.link_docs(server, &client_dir)?;
        client_dir.check_streams(&server_dir)?;
        let names = self.file_names();
        let [
            client_file,
            server_file,
            dts_file,
            js_file,
            asyncapi_file,
            client_js_file,
            client_dts_file,
            py_file,
            md_file,
            html_file,
        ] = names
            .try_into()
            .map_err(|_| Error::Spec("the export's file list changed shape".into()))?;
        let title = self.title.as_deref().unwrap_or(&self.name);
        let dirs = [&client_dir, &server_dir];
        let doc = reference::document(
            title,
            &self.version,
            self.description.as_deref(),
            &self.name,
            dirs,
        );
        let asyncapi = asyncapi::document(
            &asyncapi::Info {
                channel: &self.name,
                title,
                version: &self.version,
                description: self.description.as_deref(),
                address: self.address.as_deref(),
            },
            dirs,
        );
        Ok(vec![
            ExportFile {
                name: client_file,
                contents: to_file_text(&client_schema),
            },
            ExportFile {
                name: server_file,
                contents: to_file_text(&server_schema),
            },
            ExportFile {
                contents: typescript::declarations(title, &self.version, &js_file, dirs),
                name: dts_file.clone(),
            },
            ExportFile {
                name: js_file.clone(),
                contents: typescript::runtime(title, &self.version, &dts_file, dirs),
            },
            ExportFile {
                name: asyncapi_file,
                contents: to_file_text(&asyncapi),
            },
            ExportFile {
                name: client_js_file,
                contents: client::module(title, &self.version, &js_file, dirs),
            },
            ExportFile {
                name: client_dts_file,
                contents: client::declarations(title, &self.version, &js_file, dirs),
            },
            ExportFile {
                name: py_file,
                contents: python::module(title, &self.version, dirs),
            },
            ExportFile {
                name: md_file,
                contents: reference::markdown(&doc),
            },
            ExportFile {
                name: html_file,
                contents: reference::html(
                    &format!("{title} {}: protocol reference", self.version),
                    &doc,
                ),
            },
        ])
    }

    /// Decode `frame` with the Rust decoder of `direction`'s enum: `Ok(())`, or the decoder's
    /// error message.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] when that direction is not registered.
    pub fn decode(&self, direction: Direction, frame: &str) -> Result<Result<(), String>, Error> {
        let reg = match direction {
            Direction::Client => self.client.as_ref(),
            Direction::Server => self.server.as_ref(),
        };
        let reg = reg.ok_or_else(|| Error::Spec(format!("no {direction} enum registered")))?;
        Ok((reg.decode)(frame))
    }

    /// The example frame of every message of both directions, as the reference shows them (tag
    /// first, the correlation id on requests and replies), each with the decoder's verdict.
    ///
    /// # Errors
    ///
    /// As [`Spec::files`].
    pub fn examples(&self) -> Result<Vec<Sample>, Error> {
        self.collect_samples(false)
    }

    /// The sample corpus for outside judges: every example frame and documents near it (tag
    /// missing, retyped or unknown; each field left out, `null`, retyped, just past its range,
    /// under its aliases; an unknown field), each sorted by the Rust decoder.
    ///
    /// # Errors
    ///
    /// As [`Spec::files`].
    pub fn samples(&self) -> Result<Vec<Sample>, Error> {
        self.collect_samples(true)
    }

    fn collect_samples(&self, mutate: bool) -> Result<Vec<Sample>, Error> {
        let (client, server) = self.check_setup()?;
        let client_schema = self.schema_with_id(client, Direction::Client);
        let server_schema = self.schema_with_id(server, Direction::Server);
        let mut client_dir = DirectionView::new(Direction::Client, client, &client_schema)?;
        let mut server_dir = DirectionView::new(Direction::Server, server, &server_schema)?;
        client_dir.link_replies(client, &server_dir)?;
        server_dir.link_replies(server, &client_dir)?;
        let mut out = Vec::new();
        for (dir, other, reg) in [
            (&client_dir, &server_dir, client),
            (&server_dir, &client_dir, server),
        ] {
            let ex = crate::example::Examples::new(&dir.view);
            for v in &dir.view.variants {
                let answers = other.view.variants.iter().any(|o| {
                    other
                        .reply_of(o.index, dir)
                        .is_some_and(|r| r.index == v.index)
                });
                let id = (dir.reply_of(v.index, other).is_some() || answers)
                    .then_some((dir.id_field.as_str(), 1));
                let frame = ex.frame(&dir.view, v, id);
                let docs = if mutate {
                    crate::example::mutations(&dir.view, v, &frame)
                } else {
                    vec![frame]
                };
                for doc in docs {
                    let text = crate::example::frame_text(&doc, &dir.view.tag, &dir.id_field);
                    let verdict = (reg.decode)(&text);
                    out.push(Sample {
                        direction: dir.direction,
                        variant: v.title.clone(),
                        frame: text,
                        decode_error: verdict.err(),
                    });
                }
            }
        }
        // Not objects, or no message at all.
        if mutate {
            for (direction, reg) in [(Direction::Client, client), (Direction::Server, server)] {
                for text in ["[1]", "\"text\"", "{}", "null"] {
                    out.push(Sample {
                        direction,
                        variant: String::new(),
                        frame: text.to_owned(),
                        decode_error: (reg.decode)(text).err(),
                    });
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|s| seen.insert((s.direction, s.frame.clone())));
        Ok(out)
    }

    /// Write every file into `dir` (created if missing); a file whose text is already right is
    /// left untouched. Returns the paths of the files.
    ///
    /// # Errors
    ///
    /// As [`Spec::files`], and [`Error::Write`] naming the path that could not be written.
    pub fn export(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, Error> {
        let dir = dir.as_ref();
        let files = self.files()?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_owned(),
            source,
        })?;
        let mut paths = Vec::with_capacity(files.len());
        for f in files {
            let path = dir.join(&f.name);
            let same = std::fs::read(&path).is_ok_and(|old| old == f.contents.as_bytes());
            if !same {
                std::fs::write(&path, f.contents.as_bytes()).map_err(|source| Error::Write {
                    path: path.clone(),
                    source,
                })?;
            }
            paths.push(path);
        }
        Ok(paths)
    }

    /// Compare the files in `dir` with what the types produce now.
    ///
    /// # Errors
    ///
    /// As [`Spec::files`], and [`Error::Read`] when a file exists but cannot be read.
    pub fn check(&self, dir: impl AsRef<Path>) -> Result<Drift, Error> {
        let dir = dir.as_ref();
        let mut files = Vec::new();
        for f in self.files()? {
            let path = dir.join(&f.name);
            let status = match std::fs::read(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileStatus::Missing,
                Err(source) => return Err(Error::Read { path, source }),
                Ok(bytes) => {
                    let committed = String::from_utf8_lossy(&bytes);
                    if committed == f.contents {
                        FileStatus::UpToDate
                    } else {
                        let diff = similar::TextDiff::from_lines(committed.as_ref(), &f.contents)
                            .unified_diff()
                            .context_radius(3)
                            .header(
                                &format!("{} (committed)", path.display()),
                                &format!("{} (from the types)", path.display()),
                            )
                            .to_string();
                        FileStatus::Differs { diff }
                    }
                }
            };
            files.push(FileDrift { path, status });
        }
        Ok(Drift { files })
    }
}

/// One frame of [`Spec::examples`] or [`Spec::samples`], with the Rust decoder's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Which direction's decoder judged it.
    pub direction: Direction,
    /// The Rust name of the variant it was made from (empty for documents made from none).
    pub variant: String,
    /// The frame's text.
    pub frame: String,
    /// `None` when the decoder accepts the frame, else its error message.
    pub decode_error: Option<String>,
}

impl Sample {
    /// Whether the Rust decoder accepts the frame.
    pub fn is_valid(&self) -> bool {
        self.decode_error.is_none()
    }
}

/// The result of [`Spec::check`]: each exported file against the committed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// One entry per exported file, in export order.
    pub files: Vec<FileDrift>,
}

/// One file of a [`Drift`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDrift {
    /// Where the committed file is (or should be).
    pub path: PathBuf,
    /// How it compares.
    pub status: FileStatus,
}

/// How a committed file compares with what the types produce.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileStatus {
    /// Identical.
    UpToDate,
    /// Not there.
    Missing,
    /// Different; `diff` is a unified diff from the committed text to the generated one.
    Differs {
        /// The unified diff.
        diff: String,
    },
}

impl Drift {
    /// Whether every file is up to date.
    pub fn is_clean(&self) -> bool {
        self.files.iter().all(|f| f.status == FileStatus::UpToDate)
    }

    /// The files that are missing or differ.
    pub fn stale(&self) -> impl Iterator<Item = &FileDrift> {
        self.files
            .iter()
            .filter(|f| f.status != FileStatus::UpToDate)
    }
}

impl fmt::Display for Drift {
    /// A readable report: one line per file, and the diffs of those that differ.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            match &file.status {
                FileStatus::UpToDate => writeln!(f, "up to date: {}", file.path.display())?,
                FileStatus::Missing => writeln!(f, "missing:    {}", file.path.display())?,
                FileStatus::Differs { .. } => writeln!(f, "differs:    {}", file.path.display())?,
            }
        }
        for file in &self.files {
            if let FileStatus::Differs { diff } = &file.status {
                writeln!(f)?;
                f.write_str(diff)?;
                if !diff.ends_with('\n') {
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}

/// One direction ready for export: its schema read as a protocol, its type names, and its
/// requests linked to their replies in the other direction.
#[derive(Debug)]
pub(crate) struct DirectionView<'a> {
    /// Which way its messages travel.
    pub direction: Direction,
    /// The schema, read.
    pub view: ProtocolView<'a>,
    /// Type names in TypeScript and AsyncAPI.
    pub names: Names,
    /// By variant position: the position of its reply in the other direction.
    pub replies: Vec<Option<usize>>,
    /// The correlation id field.
    pub id_field: String,
    /// By variant position: the messages of the other direction its handling sends (their
    /// position there) and who gets each.
    pub pushes: Vec<Vec<(usize, String)>>,
    /// By variant position: the error codes its handler may answer with.
    pub error_codes: Vec<Vec<String>>,
}

impl<'a> DirectionView<'a> {
    fn new(direction: Direction, reg: &Registered, schema: &'a Value) -> Result<Self, Error> {
        let view = ProtocolView::parse(schema).map_err(|reason| {
            Error::Spec(format!(
                "the schema of `{}` is not a protocol schema: {reason}",
                reg.type_name
            ))
        })?;
        let names = Names::new(&reg.type_name, &view);
        let replies = vec![None; view.variants.len()];
        let n = view.variants.len();
        Ok(Self {
            direction,
            view,
            names,
            replies,
            id_field: reg.id_field.to_owned(),
            pushes: vec![Vec::new(); n],
            error_codes: vec![Vec::new(); n],
        })
    }

    fn link_docs(&mut self, reg: &Registered, other: &DirectionView<'_>) -> Result<(), Error> {
        for (variant, wire, to) in &reg.pushes {
            let Some(v) = self.view.variants.iter().find(|v| v.title == *variant) else {
                continue;
            };
            let target = other.view.variant_for_tag(wire).ok_or_else(|| {
                Error::Spec(format!(
                    "`{}::{variant}` declares that it pushes {wire:?}, but `{}` has no message of that type",
                    reg.type_name, other.names.ns
                ))
            })?;
            self.pushes[v.index].push((target.index, (*to).to_owned()));
        }
        for (variant, codes) in &reg.error_codes {
            if let Some(v) = self.view.variants.iter().find(|v| v.title == *variant) {
                self.error_codes[v.index] = codes.iter().map(|c| (*c).to_owned()).collect();
            }
        }
        Ok(())
    }

    /// Every join's announcing message is one of `other`'s.
    fn check_streams(&self, other: &DirectionView<'_>) -> Result<(), Error> {
        for v in &self.view.variants {
            if let Some(StreamPart::Join {
                announced_by: Some(a),
            }) = &v.stream
                && other.view.variant_for_tag(a).is_none()
            {
                return Err(Error::Spec(format!(
                    "`{}::{}` joins a stream announced by {a:?}, but `{}` has no message of that type",
                    self.names.ns, v.title, other.names.ns
                )));
            }
        }
        Ok(())
    }

    fn link_replies(&mut self, reg: &Registered, other: &DirectionView<'_>) -> Result<(), Error> {
        for (variant, reply) in &reg.replies {
            let Some(v) = self.view.variants.iter().find(|v| v.title == *variant) else {
                continue;
            };
            let target = other.view.variant_for_tag(reply).ok_or_else(|| {
                Error::Spec(format!(
                    "`{}::{variant}` declares the reply {reply:?}, but `{}` has no message of that type",
                    reg.type_name, other.names.ns
                ))
            })?;
            self.replies[v.index] = Some(target.index);
        }
        Ok(())
    }

    /// Whether the variant at `index` can carry the correlation id: every client message (the
    /// server reads the id of any, and answers errors with it); of the server's, only the replies
    /// of `other`'s requests and the error reply.
    pub fn carries_id(&self, index: usize, other: &DirectionView<'_>) -> bool {
        match self.direction {
            Direction::Client => true,
            Direction::Server => {
                other.replies.iter().flatten().any(|&r| r == index)
                    || self
                        .view
                        .variants
                        .get(index)
                        .is_some_and(|v| !v.catch_all && v.wire == crate::client::ERROR_TAG)
            }
        }
    }

    /// The reply of the variant at `index`, in `other`.
    pub fn reply_of<'b>(
        &self,
        index: usize,
        other: &'b DirectionView<'_>,
    ) -> Option<&'b VariantView<'b>> {
        let target = (*self.replies.get(index)?)?;
        other.view.variants.get(target)
    }
}
