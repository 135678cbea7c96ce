//! The input as data: the enum, its variants and their fields, with attributes parsed and wire
//! names worked out.

use syn::{Ident, Type};

use crate::attr;
use crate::case::RenameRule;
use crate::ctxt::Ctxt;

pub struct Container<'a> {
    pub ident: &'a Ident,
    pub input: &'a syn::DeriveInput,
    pub attrs: attr::Container,
    pub tag: String,
    pub variants: Vec<Variant<'a>>,
}

pub enum Style<'a> {
    Unit,
    Struct(Vec<Field<'a>>),
    Newtype(Box<Field<'a>>),
}

pub struct Variant<'a> {
    pub ident: &'a Ident,
    pub original: &'a syn::Variant,
    pub attrs: attr::Variant,
    pub style: Style<'a>,
    pub doc: String,
    /// The name the encoder writes.
    pub wire_name: String,
    /// Rule for the fields' names (variant `rename_all`, else the enum's `rename_all_fields`).
    pub field_rule: Option<RenameRule>,
    pub deny_unknown_fields: bool,
}

pub struct Field<'a> {
    pub ident: Option<&'a Ident>,
    pub ty: &'a Type,
    pub original: &'a syn::Field,
    pub attrs: attr::Field,
}

impl Container<'_> {
    /// The correlation id field name.
    pub fn id_field(&self) -> String {
        self.attrs
            .id
            .as_ref()
            .map(syn::LitStr::value)
            .unwrap_or_else(|| "id".to_owned())
    }
}

impl Field<'_> {
    /// The serialized field name (for collision checks), as serde would compute it.
    pub fn wire_name(&self, rule: Option<RenameRule>) -> Option<String> {
        if let Some(r) = &self.attrs.rename {
            return Some(r.clone());
        }
        let ident = self.ident?.to_string();
        let ident = ident.strip_prefix("r#").unwrap_or(&ident).to_owned();
        Some(match rule {
            Some(rule) => rule.apply_to_field(&ident),
            None => ident,
        })
    }
}

/// The doc comment of an item, lines joined, one leading space trimmed per line.
pub fn doc_of(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            let line = s.value();
            lines.push(line.strip_prefix(' ').map(str::to_owned).unwrap_or(line));
        }
    }
    lines.join("\n").trim().to_owned()
}

impl<'a> Container<'a> {
    /// Read the input; `None` when it cannot be a protocol at all (not an enum).
    pub fn from_ast(cx: &Ctxt, input: &'a syn::DeriveInput) -> Option<Self> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let data = match &input.data {
            syn::Data::Enum(data) => data,
            syn::Data::Struct(s) => {
                cx.error_spanned_by(
                    s.struct_token,
                    "#[derive(Protocol)] works on enums only: each variant is one message type; derive serde's Serialize/Deserialize for structs",
                );
                return None;
            }
            syn::Data::Union(u) => {
                cx.error_spanned_by(
                    u.union_token,
                    "#[derive(Protocol)] works on enums only, not unions",
                );
                return None;
            }
        };
        let tag = attrs.tag.clone().unwrap_or_else(|| "type".to_owned());
        let variants = data
            .variants
            .iter()
            .map(|v| {
                let vattrs = attr::Variant::from_ast(cx, &v.attrs);
                let style = match &v.fields {
                    syn::Fields::Unit => Style::Unit,
                    syn::Fields::Named(named) => Style::Struct(
                        named
                            .named
                            .iter()
                            .map(|f| Field {
                                ident: f.ident.as_ref(),
                                ty: &f.ty,
                                original: f,
                                attrs: attr::Field::from_ast(cx, &f.attrs),
                            })
                            .collect(),
                    ),
                    syn::Fields::Unnamed(unnamed) => {
                        let mut fields = unnamed.unnamed.iter();
                        match (fields.next(), fields.next()) {
                            (Some(f), None) => Style::Newtype(Box::new(Field {
                                ident: None,
                                ty: &f.ty,
                                original: f,
                                attrs: attr::Field::from_ast(cx, &f.attrs),
                            })),
                            (None, _) => {
                                cx.error_spanned_by(
                                    &v.fields,
                                    "a tuple variant needs exactly one field, a struct whose fields sit beside the tag; write a unit variant for a message without fields",
                                );
                                Style::Unit
                            }
                            (Some(_), Some(second)) => {
                                cx.error_spanned_by(
                                    second,
                                    "tuple variants with more than one field have no place beside a tag; use named fields (`Variant { a: A, b: B }`) or one struct (`Variant(Payload)`)",
                                );
                                Style::Unit
                            }
                        }
                    }
                };
                let wire_name = vattrs.rename.clone().unwrap_or_else(|| match attrs.rename_all {
                    Some(rule) => rule.apply_to_variant(&v.ident.to_string()),
                    None => v.ident.to_string(),
                });
                Variant {
                    ident: &v.ident,
                    original: v,
                    field_rule: vattrs.rename_all.or(attrs.rename_all_fields),
                    deny_unknown_fields: vattrs.deny_unknown_fields || attrs.deny_unknown_fields,
                    attrs: vattrs,
                    style,
                    doc: doc_of(&v.attrs),
                    wire_name,
                }
            })
            .collect();
        Some(Container {
            ident: &input.ident,
            input,
            attrs,
            tag,
            variants,
        })
    }
}
