//! Every `#[protocol(...)]` attribute parsed once into typed fields. Setting one twice is an
//! error, not an overwrite; unknown keys are errors that list the allowed ones.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Token};

use crate::case::RenameRule;
use crate::ctxt::Ctxt;

/// An attribute value that may be set at most once.
pub struct Attr<'c, T> {
    cx: &'c Ctxt,
    name: &'static str,
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    fn none(cx: &'c Ctxt, name: &'static str) -> Self {
        Attr {
            cx,
            name,
            value: None,
        }
    }

    fn set<A: ToTokens>(&mut self, tokens: A, value: T) {
        if self.value.is_some() {
            self.cx.error_spanned_by(
                tokens,
                format!("duplicate protocol attribute `{}`", self.name),
            );
        } else {
            self.value = Some(value);
        }
    }

    fn get(self) -> Option<T> {
        self.value
    }
}

const CONTAINER_KEYS: &str = "tag, rename_all, rename_all_fields, deny_unknown_fields, id, on_unknown, handler, handler_default, crate";
const VARIANT_KEYS: &str = "rename, alias, rename_all, deny_unknown_fields, other, reply, error, pushes, error_codes, stream, joins_stream, leaves_stream, publishes";

/// Attributes on the enum.
pub struct Container {
    pub tag: Option<String>,
    pub rename_all: Option<RenameRule>,
    pub rename_all_fields: Option<RenameRule>,
    pub deny_unknown_fields: bool,
    pub handler: Option<syn::Ident>,
    pub handler_default: bool,
    pub id: Option<LitStr>,
    pub on_unknown: Option<UnknownPolicy>,
    /// `crate = "path"`: where `protocol_core` is, when it is renamed or re-exported.
    pub krate: Option<syn::Path>,
}

/// `on_unknown = "reply" | "ignore" | "close"`.
#[derive(Clone, Copy)]
pub enum UnknownPolicy {
    Reply,
    Ignore,
    Close,
}

/// Attributes on a variant.
pub struct Variant {
    pub rename: Option<String>,
    pub aliases: Vec<LitStr>,
    pub rename_all: Option<RenameRule>,
    pub deny_unknown_fields: bool,
    pub other: bool,
    pub reply: Option<syn::Path>,
    /// The handler's error type for this message (`Into<ErrorReply>`); `ErrorReply` by default.
    pub error: Option<syn::Type>,
    /// Documentation only: the messages of the other direction that handling this one sends,
    /// each with who gets it (`pushes(ServerMsg::Message = "room")`), for the generated reference.
    pub pushes: Vec<(syn::Path, LitStr)>,
    /// Documentation only: the error codes the handler may answer with (`error_codes("not_in_room")`).
    pub error_codes: Vec<LitStr>,
    /// `#[protocol(stream)]`: published into a room, this message is stored in the room's
    /// history and carries its position in the field `offset: u64`.
    pub stream: bool,
    /// `#[protocol(joins_stream = ServerMsg::Joined)]`: this client message joins the room in
    /// its `room` field, resuming from its `since` field; the named variant announces the join.
    pub joins_stream: Option<syn::Path>,
    /// `#[protocol(leaves_stream)]`: this client message leaves the room in its `room` field.
    pub leaves_stream: bool,
    /// `#[protocol(publishes)]`: this request publishes into the room in its `room` field; its
    /// reply's `offset` is the published message's.
    pub publishes: bool,
}

/// A recipient in words: letters, digits, spaces, `-`, `_` and `'`, 1 to 40 characters (it
/// names a lifeline in the reference's sequence diagrams).
fn valid_recipient(s: &str) -> bool {
    (1..=40).contains(&s.chars().count())
        && s.trim() == s
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '\''))
}

/// An error code: letters, digits, `_`, `.`, `:` and `-`, 1 to 64 characters.
fn valid_error_code(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

fn get_lit_str(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    let value = meta.value()?;
    value.parse::<LitStr>()
}

fn parse_rule(cx: &Ctxt, lit: &LitStr) -> Option<RenameRule> {
    match RenameRule::from_str(&lit.value()) {
        Ok(rule) => Some(rule),
        Err(e) => {
            cx.error_spanned_by(lit, e);
            None
        }
    }
}

fn key_name(meta: &ParseNestedMeta<'_>) -> String {
    meta.path.to_token_stream().to_string().replace(' ', "")
}

/// Reject `#[serde(...)]` where only `#[protocol(...)]` means something.
fn reject_serde(cx: &Ctxt, attrs: &[Attribute], what: &str) {
    for attr in attrs {
        if attr.path().is_ident("serde") {
            cx.error_spanned_by(
                attr,
                format!("`#[serde(...)]` has no effect on {what}; use `#[protocol(...)]` here (serde attributes belong on fields)"),
            );
        }
    }
}

impl Container {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut tag = Attr::none(cx, "tag");
        let mut rename_all = Attr::none(cx, "rename_all");
        let mut rename_all_fields = Attr::none(cx, "rename_all_fields");
        let mut deny = Attr::none(cx, "deny_unknown_fields");
        let mut handler = Attr::none(cx, "handler");
        let mut handler_default = Attr::none(cx, "handler_default");
        let mut id = Attr::none(cx, "id");
        let mut on_unknown = Attr::none(cx, "on_unknown");
        let mut krate = Attr::none(cx, "crate");
        reject_serde(cx, attrs, "the enum");
        for attr in attrs.iter().filter(|a| a.path().is_ident("protocol")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("tag") {
                    let s = get_lit_str(&meta)?;
                    if s.value().is_empty() {
                        cx.error_spanned_by(&s, "the tag field name must not be empty");
                    }
                    tag.set(&meta.path, s.value());
                } else if meta.path.is_ident("rename_all") {
                    let s = get_lit_str(&meta)?;
                    if let Some(rule) = parse_rule(cx, &s) {
                        rename_all.set(&meta.path, rule);
                    }
                } else if meta.path.is_ident("rename_all_fields") {
                    let s = get_lit_str(&meta)?;
                    if let Some(rule) = parse_rule(cx, &s) {
                        rename_all_fields.set(&meta.path, rule);
                    }
                } else if meta.path.is_ident("deny_unknown_fields") {
                    deny.set(&meta.path, ());
                } else if meta.path.is_ident("handler") {
                    let s = get_lit_str(&meta)?;
                    match s.parse::<syn::Ident>() {
                        Ok(ident) => handler.set(&meta.path, ident),
                        Err(_) => cx.error_spanned_by(&s, "`handler` must name a trait, e.g. \"ChatHandler\""),
                    }
                } else if meta.path.is_ident("handler_default") {
                    handler_default.set(&meta.path, ());
                } else if meta.path.is_ident("crate") {
                    let s = get_lit_str(&meta)?;
                    match s.parse::<syn::Path>() {
                        Ok(path) => krate.set(&meta.path, path),
                        Err(_) => cx.error_spanned_by(&s, "`crate` must be a path to protocol_core, e.g. \"::my_app::protocol_core\""),
                    }
                } else if meta.path.is_ident("id") {
                    let s = get_lit_str(&meta)?;
                    if s.value().is_empty() {
                        cx.error_spanned_by(&s, "the correlation id field name must not be empty");
                    }
                    id.set(&meta.path, s);
                } else if meta.path.is_ident("on_unknown") {
                    let s = get_lit_str(&meta)?;
                    match s.value().as_str() {
                        "reply" => on_unknown.set(&meta.path, UnknownPolicy::Reply),
                        "ignore" => on_unknown.set(&meta.path, UnknownPolicy::Ignore),
                        "close" => on_unknown.set(&meta.path, UnknownPolicy::Close),
                        other => cx.error_spanned_by(
                            &s,
                            format!("unknown `on_unknown` policy `{other}`, expected one of: reply, ignore, close"),
                        ),
                    }
                } else {
                    return Err(meta.error(format_args!(
                        "unknown protocol attribute `{}` on the enum, expected one of: {CONTAINER_KEYS}",
                        key_name(&meta)
                    )));
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.syn_error(e);
            }
        }
        Container {
            tag: tag.get(),
            rename_all: rename_all.get(),
            rename_all_fields: rename_all_fields.get(),
            deny_unknown_fields: deny.get().is_some(),
            handler: handler.get(),
            handler_default: handler_default.get().is_some(),
            id: id.get(),
            on_unknown: on_unknown.get(),
            krate: krate.get(),
        }
    }
}

impl Variant {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut rename = Attr::none(cx, "rename");
        let mut rename_all = Attr::none(cx, "rename_all");
        let mut deny = Attr::none(cx, "deny_unknown_fields");
        let mut other = Attr::none(cx, "other");
        let mut reply = Attr::none(cx, "reply");
        let mut error = Attr::none(cx, "error");
        let mut stream = Attr::none(cx, "stream");
        let mut joins_stream = Attr::none(cx, "joins_stream");
        let mut leaves_stream = Attr::none(cx, "leaves_stream");
        let mut publishes = Attr::none(cx, "publishes");
        let mut aliases = Vec::new();
        let mut pushes: Vec<(syn::Path, LitStr)> = Vec::new();
        let mut error_codes: Vec<LitStr> = Vec::new();
        reject_serde(cx, attrs, "a variant");
        for attr in attrs.iter().filter(|a| a.path().is_ident("protocol")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let s = get_lit_str(&meta)?;
                    rename.set(&meta.path, s.value());
                } else if meta.path.is_ident("alias") {
                    aliases.push(get_lit_str(&meta)?);
                } else if meta.path.is_ident("rename_all") {
                    let s = get_lit_str(&meta)?;
                    if let Some(rule) = parse_rule(cx, &s) {
                        rename_all.set(&meta.path, rule);
                    }
                } else if meta.path.is_ident("deny_unknown_fields") {
                    deny.set(&meta.path, ());
                } else if meta.path.is_ident("other") {
                    other.set(&meta.path, ());
                } else if meta.path.is_ident("stream") {
                    stream.set(&meta.path, ());
                } else if meta.path.is_ident("leaves_stream") {
                    leaves_stream.set(&meta.path, ());
                } else if meta.path.is_ident("publishes") {
                    publishes.set(&meta.path, ());
                } else if meta.path.is_ident("joins_stream") {
                    let path: syn::Path = meta.value()?.parse()?;
                    if path.segments.len() < 2 {
                        cx.error_spanned_by(
                            &path,
                            "name the variant that announces the join with its enum, e.g. `joins_stream = ServerMsg::Joined`",
                        );
                    } else {
                        joins_stream.set(&meta.path, path);
                    }
                } else if meta.path.is_ident("error") {
                    let value = meta.value()?;
                    let ty: syn::Type = if value.peek(LitStr) {
                        let s: LitStr = value.parse()?;
                        s.parse()?
                    } else {
                        value.parse()?
                    };
                    error.set(&meta.path, ty);
                } else if meta.path.is_ident("pushes") {
                    meta.parse_nested_meta(|push| {
                        let path = push.path.clone();
                        if path.segments.len() < 2 {
                            return Err(push.error(
                                "name the pushed variant with its enum and say who gets it, e.g. `pushes(ServerMsg::Message = \"room\")`",
                            ));
                        }
                        let to = push.value().and_then(|v| v.parse::<LitStr>()).map_err(|_| {
                            push.error("say who gets the pushed message, e.g. `pushes(ServerMsg::Message = \"room\")`")
                        })?;
                        if !valid_recipient(&to.value()) {
                            cx.error_spanned_by(&to, "a recipient is 1 to 40 letters, digits, spaces, `-`, `_` or `'`, e.g. \"sender\", \"room\", \"author\"");
                        }
                        if pushes.iter().any(|(p, t)| *p == path && t.value() == to.value()) {
                            cx.error_spanned_by(&path, "this push is listed twice");
                        }
                        pushes.push((path, to));
                        Ok(())
                    })?;
                } else if meta.path.is_ident("error_codes") {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let codes = content.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
                    for code in codes {
                        if !valid_error_code(&code.value()) {
                            cx.error_spanned_by(&code, "an error code is 1 to 64 letters, digits, `_`, `.`, `:` or `-`, e.g. \"not_in_room\"");
                        } else if error_codes.iter().any(|c| c.value() == code.value()) {
                            cx.error_spanned_by(&code, "this error code is listed twice");
                        }
                        error_codes.push(code);
                    }
                } else if meta.path.is_ident("reply") {
                    let value = meta.value()?;
                    let path: syn::Path = if value.peek(LitStr) {
                        let s: LitStr = value.parse()?;
                        s.parse()?
                    } else {
                        value.parse()?
                    };
                    if path.segments.len() < 2 {
                        cx.error_spanned_by(
                            &path,
                            "name the reply variant with its enum, e.g. `reply = ServerMsg::Sent`",
                        );
                    } else {
                        reply.set(&meta.path, path);
                    }
                } else {
                    return Err(meta.error(format_args!(
                        "unknown protocol attribute `{}` on a variant, expected one of: {VARIANT_KEYS}",
                        key_name(&meta)
                    )));
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.syn_error(e);
            }
        }
        Variant {
            rename: rename.get(),
            aliases,
            rename_all: rename_all.get(),
            deny_unknown_fields: deny.get().is_some(),
            other: other.get().is_some(),
            reply: reply.get(),
            error: error.get(),
            pushes,
            error_codes,
            stream: stream.get().is_some(),
            joins_stream: joins_stream.get(),
            leaves_stream: leaves_stream.get().is_some(),
            publishes: publishes.get().is_some(),
        }
    }
}

/// How a field serializes through `&T` in the generated borrowing struct.
pub enum SerializeWith {
    /// `#[serde(with = "module")]`: `module::serialize`.
    Module(syn::Path),
    /// `#[serde(serialize_with = "function")]`.
    Function(syn::Path),
}

/// What the derive needs to know about a field's `#[serde(...)]` attributes.
pub struct Field {
    /// The serialized name when `rename = "..."` or `rename(serialize = "...")` sets it.
    pub rename: Option<String>,
    /// `skip_serializing_if = "path"`.
    pub skip_serializing_if: Option<syn::Path>,
    /// `skip` or `skip_serializing`: the encoder never writes the field.
    pub skip_serializing: bool,
    /// `with` / `serialize_with`.
    pub serialize_with: Option<SerializeWith>,
    /// The field is `flatten`ed.
    pub flatten: bool,
    /// `alias = "..."` values: further names the decoder accepts.
    pub aliases: Vec<String>,
    /// `with`, `serialize_with` or `deserialize_with` is set (the schema cannot be inferred).
    pub custom_codec: Option<syn::Path>,
    /// `#[schemars(with = ...)]` or `#[schemars(schema_with = ...)]` is set.
    pub schema_override: bool,
    /// The serde items that keep their meaning on a borrowing struct (rename, skip, flatten, ...).
    pub ser_items: Vec<TokenStream>,
    /// Attributes forwarded unchanged to the owned deserialize/schema struct.
    pub forwarded: Vec<Attribute>,
}

/// serde field attributes that only matter when deserializing.
const DE_ONLY: &[&str] = &[
    "alias",
    "default",
    "skip_deserializing",
    "deserialize_with",
    "borrow",
    "bound",
];

impl Field {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = Field {
            rename: None,
            skip_serializing_if: None,
            skip_serializing: false,
            serialize_with: None,
            flatten: false,
            aliases: Vec::new(),
            custom_codec: None,
            schema_override: false,
            ser_items: Vec::new(),
            forwarded: Vec::new(),
        };
        for attr in attrs {
            if attr.path().is_ident("protocol") {
                cx.error_spanned_by(
                    attr,
                    "`#[protocol(...)]` is not used on fields; field attributes are serde's: #[serde(rename, alias, default, skip_serializing_if, with, flatten, ...)]",
                );
                continue;
            }
            if attr.path().is_ident("doc") {
                out.forwarded.push(attr.clone());
                continue;
            }
            if attr.path().is_ident("schemars") {
                let tokens = attr.meta.to_token_stream().to_string();
                if tokens.contains("with") {
                    out.schema_override = true;
                }
                out.forwarded.push(attr.clone());
                continue;
            }
            if !attr.path().is_ident("serde") {
                continue;
            }
            out.forwarded.push(attr.clone());
            let result = attr.parse_nested_meta(|meta| {
                let name = key_name(&meta);
                if meta.input.peek(Token![=]) {
                    let expr: syn::Expr = meta.value()?.parse()?;
                    let lit = match &expr {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }) => Some(s.clone()),
                        _ => None,
                    };
                    let path_of = |lit: &Option<LitStr>| -> syn::Result<syn::Path> {
                        match lit {
                            Some(s) => s.parse::<syn::Path>(),
                            None => Err(syn::Error::new_spanned(
                                &expr,
                                format!("`{name}` expects a string literal"),
                            )),
                        }
                    };
                    if matches!(
                        name.as_str(),
                        "with" | "serialize_with" | "deserialize_with"
                    ) {
                        out.custom_codec = Some(meta.path.clone());
                    }
                    match name.as_str() {
                        "with" => out.serialize_with = Some(SerializeWith::Module(path_of(&lit)?)),
                        "serialize_with" => {
                            out.serialize_with = Some(SerializeWith::Function(path_of(&lit)?))
                        }
                        "skip_serializing_if" => out.skip_serializing_if = Some(path_of(&lit)?),
                        "alias" => out.aliases.extend(lit.as_ref().map(LitStr::value)),
                        n if DE_ONLY.contains(&n) => {}
                        n => {
                            if n == "rename" {
                                out.rename = lit.as_ref().map(LitStr::value);
                            }
                            let path = &meta.path;
                            out.ser_items.push(quote!(#path = #expr));
                        }
                    }
                } else if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let inner: TokenStream = content.parse()?;
                    if name == "rename" {
                        // rename(serialize = "a", deserialize = "b")
                        let parsed = syn::parse::Parser::parse2(
                            |input: syn::parse::ParseStream<'_>| {
                                let mut ser = None;
                                while !input.is_empty() {
                                    let key: syn::Ident = input.parse()?;
                                    input.parse::<Token![=]>()?;
                                    let v: LitStr = input.parse()?;
                                    if key == "serialize" {
                                        ser = Some(v.value());
                                    }
                                    if input.peek(Token![,]) {
                                        input.parse::<Token![,]>()?;
                                    }
                                }
                                Ok(ser)
                            },
                            inner.clone(),
                        )?;
                        out.rename = parsed;
                    }
                    if !DE_ONLY.contains(&name.as_str()) {
                        let path = &meta.path;
                        out.ser_items.push(quote!(#path(#inner)));
                    }
                } else {
                    if name == "flatten" {
                        out.flatten = true;
                    }
                    if name == "skip" || name == "skip_serializing" {
                        out.skip_serializing = true;
                    }
                    if !DE_ONLY.contains(&name.as_str()) {
                        let path = &meta.path;
                        out.ser_items.push(quote!(#path));
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.syn_error(e);
            }
        }
        out
    }
}
