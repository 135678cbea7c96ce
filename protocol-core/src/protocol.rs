//! The [`Protocol`] trait: what `#[derive(Protocol)]` implements for a message enum.

use std::cell::Cell;

use serde::de::{DeserializeOwned, MapAccess};
use serde::{Deserialize, Serialize};

/// The shape of one variant on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VariantKind {
    /// `Ping` -> `{"type":"ping"}`.
    Unit,
    /// `Message { text: String }` -> `{"type":"message","text":"hi"}`.
    Struct,
    /// `Read(ReadReceipt)` -> the struct's fields flattened beside the tag.
    Newtype,
    /// The `#[protocol(other)]` catch-all that keeps unknown messages whole.
    Other,
}

/// Static facts about one variant, for logging, metrics, docs and the schema tooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VariantMeta {
    /// The Rust variant name, e.g. `"Message"`.
    pub name: &'static str,
    /// The wire name written by the encoder, e.g. `"message"`.
    pub wire_name: &'static str,
    /// Further wire names the decoder accepts for this variant.
    pub aliases: &'static [&'static str],
    /// The variant's doc comment, trimmed; empty when it has none.
    pub doc: &'static str,
    /// The variant's shape.
    pub kind: VariantKind,
    /// Whether unknown fields are rejected for this variant.
    pub deny_unknown_fields: bool,
    reply: Option<ReplyRef>,
    pushes: &'static [PushRef],
    error_codes: &'static [&'static str],
    stream: Option<&'static str>,
    role: Option<StreamRole>,
    announce: Option<ReplyRef>,
}

/// A message's part in room streams, declared on the variant, so a typed client can keep its
/// place in every room and resume after a reconnect without app code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamRole {
    /// `#[protocol(stream)]` (server to client): stored and numbered; fields `room`, `offset`.
    Stream,
    /// `#[protocol(joins_stream = ServerMsg::Joined)]` (client to server): joins the room in
    /// `room`, resuming from `since`; the named variant (fields `room`, `epoch`, `offset`,
    /// optionally `recovered`) announces the join.
    Join,
    /// `#[protocol(leaves_stream)]`: leaves the room in `room`.
    Leave,
    /// `#[protocol(publishes)]`: a request publishing into the room in `room`; its reply's
    /// `offset` is the published message's.
    Publish,
}

/// The reply variant a request declares: its Rust name, and its wire name resolved through the
/// other direction's enum (so renames there are honoured).
#[derive(Clone, Copy)]
#[doc(hidden)]
pub struct ReplyRef {
    variant: &'static str,
    wire_name: fn() -> &'static str,
}

impl ReplyRef {
    #[doc(hidden)]
    pub const fn __new(variant: &'static str, wire_name: fn() -> &'static str) -> Self {
        Self { variant, wire_name }
    }
}

impl std::fmt::Debug for ReplyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?})", self.variant, (self.wire_name)())
    }
}

impl PartialEq for ReplyRef {
    fn eq(&self, other: &Self) -> bool {
        self.variant == other.variant && (self.wire_name)() == (other.wire_name)()
    }
}

impl Eq for ReplyRef {}

/// A message of the other direction that handling a variant sends (declared with
/// `#[protocol(pushes(ServerMsg::Message = "room"))]`), and who gets it. Documentation only:
/// the generated protocol reference draws it; the runtime does not check it.
#[derive(Clone, Copy)]
pub struct PushRef {
    variant: &'static str,
    wire_name: fn() -> &'static str,
    to: &'static str,
}

impl PushRef {
    #[doc(hidden)]
    pub const fn __new(
        variant: &'static str,
        wire_name: fn() -> &'static str,
        to: &'static str,
    ) -> Self {
        Self {
            variant,
            wire_name,
            to,
        }
    }

    /// The Rust name of the pushed variant, e.g. `"Message"`.
    pub fn variant(&self) -> &'static str {
        self.variant
    }

    /// The wire name of the pushed variant in the other direction's enum, e.g. `"message"`.
    pub fn wire_name(&self) -> &'static str {
        (self.wire_name)()
    }

    /// Who gets it, in words: `"sender"`, `"room"`, `"author"`, ...
    pub fn to(&self) -> &'static str {
        self.to
    }
}

impl std::fmt::Debug for PushRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?}) to {:?}",
            self.variant,
            self.wire_name(),
            self.to
        )
    }
}

impl PartialEq for PushRef {
    fn eq(&self, other: &Self) -> bool {
        self.variant == other.variant
            && self.to == other.to
            && self.wire_name() == other.wire_name()
    }
}

impl Eq for PushRef {}

impl VariantMeta {
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        wire_name: &'static str,
        aliases: &'static [&'static str],
        doc: &'static str,
        kind: VariantKind,
        deny_unknown_fields: bool,
        reply: Option<ReplyRef>,
    ) -> Self {
        Self {
            name,
            wire_name,
            aliases,
            doc,
            kind,
            deny_unknown_fields,
            reply,
            pushes: &[],
            error_codes: &[],
            stream: None,
            role: None,
            announce: None,
        }
    }

    #[doc(hidden)]
    pub const fn __with_role(mut self, role: StreamRole, announce: Option<ReplyRef>) -> Self {
        self.role = Some(role);
        self.announce = announce;
        self
    }

    /// The message's part in room streams, if any.
    pub fn stream_role(&self) -> Option<StreamRole> {
        self.role
    }

    /// For a [`StreamRole::Join`] message: the wire name of the variant (of the other
    /// direction) that announces the join.
    pub fn announced_by(&self) -> Option<&'static str> {
        self.announce.map(|r| (r.wire_name)())
    }

    #[doc(hidden)]
    pub const fn __with_stream(mut self, offset_field: &'static str) -> Self {
        self.stream = Some(offset_field);
        self.role = Some(StreamRole::Stream);
        self
    }

    /// Whether this message is stored when published into a room (`#[protocol(stream)]`):
    /// it gets the room's next offset and is kept in the room's history for resume.
    pub fn is_stream(&self) -> bool {
        self.stream.is_some()
    }

    /// For a stream message: the wire name of the field that carries its offset.
    pub fn offset_field(&self) -> Option<&'static str> {
        self.stream
    }

    #[doc(hidden)]
    pub const fn __with_docs(
        mut self,
        pushes: &'static [PushRef],
        error_codes: &'static [&'static str],
    ) -> Self {
        self.pushes = pushes;
        self.error_codes = error_codes;
        self
    }

    /// The messages of the other direction that handling this one sends, and who gets them
    /// (`#[protocol(pushes(...))]`; documentation only).
    pub fn pushes(&self) -> &'static [PushRef] {
        self.pushes
    }

    /// The error codes the handler may answer with (`#[protocol(error_codes(...))]`;
    /// documentation only, beside the codes any message can get: `invalid_json`,
    /// `unknown_type`, `invalid_message`, `rate_limited`).
    pub fn error_codes(&self) -> &'static [&'static str] {
        self.error_codes
    }

    /// Whether this variant is a request that expects a reply.
    pub fn is_request(&self) -> bool {
        self.reply.is_some()
    }

    /// For a request: the wire name of the reply variant in the other direction's enum.
    pub fn reply(&self) -> Option<&'static str> {
        self.reply.map(|r| (r.wire_name)())
    }

    /// For a request: the Rust name of the reply variant.
    pub fn reply_variant(&self) -> Option<&'static str> {
        self.reply.map(|r| r.variant)
    }
}

/// A `type`-tagged message enum, implemented by `#[derive(Protocol)]`.
///
/// The derive also implements [`serde::Serialize`], [`serde::Deserialize`] and
/// [`schemars::JsonSchema`] for the wire format described in the crate docs.
///
/// ```
/// use protocol_core::Protocol;
///
/// #[derive(Debug, PartialEq, Protocol)]
/// #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
/// enum ClientMsg {
///     /// Mark a message as read.
///     Read { message_id: String },
///     Ping,
/// }
///
/// assert_eq!(ClientMsg::TAG, "type");
/// assert_eq!(ClientMsg::TYPES, &["read", "ping"]);
/// let msg = ClientMsg::Read { message_id: "abc123".into() };
/// assert_eq!(msg.type_name(), "read");
/// assert_eq!(ClientMsg::VARIANTS[0].doc, "Mark a message as read.");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a protocol message enum",
    label = "add `#[derive(protocol_core::Protocol)]` to `{Self}`"
)]
pub trait Protocol:
    Serialize + DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static
{
    /// The name of the tag field, `"type"` unless `#[protocol(tag = "...")]` says otherwise.
    const TAG: &'static str;
    /// The wire names of all variants in declaration order (the catch-all excluded).
    const TYPES: &'static [&'static str];
    /// Per-variant metadata in declaration order (the catch-all included, last or where declared).
    const VARIANTS: &'static [VariantMeta];
    /// Whether the enum has a `#[protocol(other)]` catch-all variant.
    const HAS_OTHER: bool;
    /// The correlation id field every variant may carry (`"id"` unless `#[protocol(id = "...")]`).
    const ID_FIELD: &'static str;
    /// What a server does with a message of unknown type (`#[protocol(on_unknown = "...")]`).
    const ON_UNKNOWN: crate::error::UnknownPolicy;

    /// The wire name of this message's variant (for the catch-all: `"*"`, see [`Protocol::wire_tag`]).
    fn type_name(&self) -> &'static str;

    /// The tag this message carries on the wire; differs from [`Protocol::type_name`] only for
    /// the catch-all variant, which keeps the unknown tag it was decoded from.
    fn wire_tag(&self) -> &str {
        self.type_name()
    }

    /// Metadata of this message's variant.
    fn variant_meta(&self) -> &'static VariantMeta {
        let name = self.type_name();
        Self::VARIANTS
            .iter()
            .find(|v| v.wire_name == name)
            .unwrap_or(&Self::VARIANTS[0])
    }

    /// Metadata of the variant with this wire name or alias.
    fn meta_for(tag: &str) -> Option<&'static VariantMeta> {
        Self::__variant_index(tag).map(|i| &Self::VARIANTS[i])
    }

    /// Metadata of the variant with this Rust name.
    fn meta_by_name(name: &str) -> Option<&'static VariantMeta> {
        Self::VARIANTS.iter().find(|v| v.name == name)
    }

    /// The JSON Schema (2020-12) of this protocol; see [`crate::schema_for`].
    // No default body: the derive writes `schema_for::<Self>()`, so this trait needs nothing of
    // the schema module (which is built on this trait).
    fn json_schema() -> serde_json::Value;

    /// Whether this message is a stream message (`#[protocol(stream)]`): published into a room
    /// with `Context::publish` it is stored and numbered.
    fn is_stream(&self) -> bool {
        self.variant_meta().is_stream()
    }

    #[doc(hidden)]
    fn __stream_offset(&mut self) -> Option<&mut u64> {
        None
    }

    #[doc(hidden)]
    fn __variant_index(tag: &str) -> Option<usize>;

    #[doc(hidden)]
    fn __deserialize_variant<'de, M: MapAccess<'de>>(
        index: usize,
        map: M,
        keys: Keys<'_>,
    ) -> Result<Self, M::Error>;

    #[doc(hidden)]
    fn __other(tag: String, raw: serde_json::Value) -> Option<Self>;
}

/// The keys a variant's decoder treats specially: the tag (already read, or still to skip) and
/// the correlation id (captured into `id`). The argument of the generated
/// `__deserialize_variant`, so it is defined beside the trait: the trait depends on nothing of
/// the codec, whose engine makes these and the generated code passes them on.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Keys<'a> {
    pub(crate) tag: &'static str,
    pub(crate) on_tag: OnTag,
    pub(crate) id_field: &'static str,
    pub(crate) id: &'a Cell<Option<u64>>,
}

impl<'a> Keys<'a> {
    pub(crate) fn new<T: Protocol>(on_tag: OnTag, id: &'a Cell<Option<u64>>) -> Self {
        Keys {
            tag: T::TAG,
            on_tag,
            id_field: T::ID_FIELD,
            id,
        }
    }

    /// Record the correlation id a struct variant's generated struct captured.
    #[inline]
    pub fn set_id(&self, id: Option<u64>) {
        if id.is_some() {
            self.id.set(id);
        }
    }
}

/// What a variant's decoder does when the tag key turns up among the fields.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OnTag {
    /// The tag was read already: a second one is an error.
    Reject,
    /// The tag was validated by a scan: skip it.
    Skip,
}

/// Where a client left off in a room's stream: the epoch it knew and the last offset it has.
/// Use it as a field of the join message (`since: Option<Since>`).
///
/// ```
/// use protocol_core::Since;
///
/// let since: Since = serde_json::from_str(r#"{"epoch":"e1","offset":41}"#).unwrap();
/// assert_eq!(since.offset, 41);
/// assert!(serde_json::from_str::<Since>(r#"{"epoch":"e1","offset":-1}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// The room's epoch, from `joined` (a string that changes whenever the room's history was
    /// lost).
    pub epoch: String,
    /// The offset of the last message received (0: none yet).
    pub offset: u64,
}
