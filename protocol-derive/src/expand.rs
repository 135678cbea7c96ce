//! Code generation. Everything is emitted inside `const _: () = { ... };` with absolute paths,
//! and every piece of logic lives in `::protocol_core::__private`: the macro emits per-variant
//! structs (so serde's own derive gives field attributes their exact serde meaning) and `match`es.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::LitStr;
use syn::spanned::Spanned;

use crate::ast::{Container, Field, Style, Variant};
use crate::attr::SerializeWith;

const SERDE_CRATE: &str = "::protocol_core::__private::serde";
const SCHEMARS_CRATE: &str = "::protocol_core::__private::schemars";

fn private() -> TokenStream {
    quote!(::protocol_core::__private)
}

/// The per-variant code pieces.
#[derive(Default)]
struct Pieces {
    items: Vec<TokenStream>,
    ser_arms: Vec<TokenStream>,
    de_arms: Vec<TokenStream>,
    index_arms: Vec<TokenStream>,
    type_name_arms: Vec<TokenStream>,
    meta_arms: Vec<TokenStream>,
    metas: Vec<TokenStream>,
    schemas: Vec<TokenStream>,
    types: Vec<String>,
    other: Option<TokenStream>,
    wire_tag_arm: Option<TokenStream>,
    offset_arms: Vec<TokenStream>,
}

pub fn expand(cont: &Container<'_>) -> TokenStream {
    let p = private();
    let ident = cont.ident;
    let tag = &cont.tag;
    let mut pieces = Pieces::default();

    pieces.items.push(quote! {
        #[derive(#p::serde::Serialize)]
        #[serde(crate = #SERDE_CRATE)]
        struct __Unit {
            #[serde(rename = #tag)]
            __tag: &'static str,
        }
    });

    for (index, v) in cont.variants.iter().enumerate() {
        expand_variant(cont, v, index, &mut pieces);
    }

    let Pieces {
        items,
        ser_arms,
        de_arms,
        index_arms,
        type_name_arms,
        meta_arms,
        metas,
        schemas,
        types,
        other,
        wire_tag_arm,
        offset_arms,
    } = pieces;
    let name = ident.to_string();
    let id_field = cont.id_field();
    let on_unknown = match cont.attrs.on_unknown {
        None | Some(crate::attr::UnknownPolicy::Reply) => quote!(Reply),
        Some(crate::attr::UnknownPolicy::Ignore) => quote!(Ignore),
        Some(crate::attr::UnknownPolicy::Close) => quote!(Close),
    };
    let enum_doc = crate::ast::doc_of(&cont.input.attrs);
    let has_other = other.is_some();
    let other_body = other.unwrap_or_else(|| quote!(::core::option::Option::None));
    let wire_tag_fn = wire_tag_arm.map(|arm| {
        quote! {
            fn wire_tag(&self) -> &str {
                match self {
                    #arm
                    _ => ::protocol_core::Protocol::type_name(self),
                }
            }
        }
    });

    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, non_snake_case, dead_code, clippy::ptr_arg, clippy::trivially_copy_pass_by_ref)]
        const _: () = {
            #(#items)*

            #[automatically_derived]
            impl #p::serde::Serialize for #ident {
                fn serialize<__S: #p::serde::Serializer>(&self, __serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                    match self {
                        #(#ser_arms)*
                    }
                }
            }

            #[automatically_derived]
            impl<'de> #p::serde::Deserialize<'de> for #ident {
                fn deserialize<__D: #p::serde::Deserializer<'de>>(__deserializer: __D) -> ::core::result::Result<Self, __D::Error> {
                    #p::deserialize::<Self, __D>(__deserializer)
                }
            }

            #[automatically_derived]
            impl #p::schemars::JsonSchema for #ident {
                fn schema_name() -> ::std::borrow::Cow<'static, str> {
                    ::std::borrow::Cow::Borrowed(#name)
                }
                fn schema_id() -> ::std::borrow::Cow<'static, str> {
                    ::std::borrow::Cow::Borrowed(::core::concat!(::core::module_path!(), "::", #name))
                }
                fn json_schema(__gen: &mut #p::schemars::SchemaGenerator) -> #p::schemars::Schema {
                    let __variants = ::std::vec![#(#schemas),*];
                    #p::protocol_schema::<Self>(__gen, #enum_doc, __variants)
                }
            }

            #[automatically_derived]
            impl ::protocol_core::Protocol for #ident {
                const TAG: &'static str = #tag;
                const TYPES: &'static [&'static str] = &[#(#types),*];
                const VARIANTS: &'static [::protocol_core::VariantMeta] = &[#(#metas),*];
                const HAS_OTHER: bool = #has_other;
                const ID_FIELD: &'static str = #id_field;
                const ON_UNKNOWN: ::protocol_core::UnknownPolicy = ::protocol_core::UnknownPolicy::#on_unknown;

                fn type_name(&self) -> &'static str {
                    match self {
                        #(#type_name_arms)*
                    }
                }

                #wire_tag_fn

                fn json_schema() -> #p::serde_json::Value {
                    ::protocol_core::schema_for::<Self>()
                }

                fn variant_meta(&self) -> &'static ::protocol_core::VariantMeta {
                    match self {
                        #(#meta_arms)*
                    }
                }

                fn __stream_offset(&mut self) -> ::core::option::Option<&mut u64> {
                    match self {
                        #(#offset_arms)*
                        #[allow(unreachable_patterns)]
                        _ => ::core::option::Option::None,
                    }
                }

                fn __variant_index(__tag: &str) -> ::core::option::Option<usize> {
                    match __tag {
                        #(#index_arms)*
                        _ => ::core::option::Option::None,
                    }
                }

                fn __deserialize_variant<'de, __M: #p::serde::de::MapAccess<'de>>(
                    __index: usize,
                    __map: __M,
                    __keys: #p::Keys<'_>,
                ) -> ::core::result::Result<Self, __M::Error> {
                    match __index {
                        #(#de_arms)*
                        _ => ::core::result::Result::Err(<__M::Error as #p::serde::de::Error>::custom("variant index out of range")),
                    }
                }

                fn __other(__tag: ::std::string::String, __raw: #p::serde_json::Value) -> ::core::option::Option<Self> {
                    #other_body
                }
            }
        };
    }
}

/// A variant of the other direction's enum named by an attribute (`reply = ServerMsg::Sent`,
/// `pushes(...)`, `joins_stream = ...`): its Rust name, and a function giving its wire name
/// through that enum (so renames there are honoured). The variant must exist: a pattern that
/// names it is emitted, which does not compile otherwise.
fn variant_of_other(path: &syn::Path, out: &mut Pieces) -> (String, TokenStream) {
    let enum_path = crate::dispatch::enum_of(path);
    let name = path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    out.items.push(quote! {
        const _: fn(&#enum_path) -> bool = |__m| ::core::matches!(__m, #path { .. });
    });
    let wire = quote! {
        || match <#enum_path as ::protocol_core::Protocol>::meta_by_name(#name) {
            ::core::option::Option::Some(__m) => __m.wire_name,
            ::core::option::Option::None => #name,
        }
    };
    (name, wire)
}

fn expand_variant(cont: &Container<'_>, v: &Variant<'_>, index: usize, out: &mut Pieces) {
    let p = private();
    let ident = cont.ident;
    let vident = v.ident;
    let tag = &cont.tag;
    let wire = &v.wire_name;
    let deny = v.deny_unknown_fields;
    let name = vident.to_string();
    let doc = &v.doc;
    let aliases: Vec<String> = v.attrs.aliases.iter().map(LitStr::value).collect();
    let reply = match &v.attrs.reply {
        Some(path) => {
            let (name, wire) = variant_of_other(path, out);
            quote!(::core::option::Option::Some(::protocol_core::__private::ReplyRef::__new(#name, #wire)))
        }
        None => quote!(::core::option::Option::None),
    };
    let pushes: Vec<TokenStream> = v
        .attrs
        .pushes
        .iter()
        .map(|(path, to)| {
            let (name, wire) = variant_of_other(path, out);
            quote!(::protocol_core::__private::PushRef::__new(#name, #wire, #to))
        })
        .collect();
    let error_codes = &v.attrs.error_codes;
    let stream_field = match &v.style {
        Style::Struct(fields) if v.attrs.stream => fields
            .iter()
            .find(|f| f.ident.is_some_and(|i| i == "offset"))
            .and_then(|f| f.wire_name(v.field_rule)),
        _ => None,
    };
    // Type errors of the stream fields point at the field's type.
    let offset_span = match &v.style {
        Style::Struct(fields) => fields
            .iter()
            .find(|f| f.ident.is_some_and(|i| i == "offset"))
            .map_or(vident.span(), |f| f.ty.span()),
        _ => vident.span(),
    };
    if stream_field.is_some() {
        out.offset_arms.push(quote_spanned! {offset_span=>
            #ident::#vident { offset, .. } => ::core::option::Option::Some(offset),
        });
    }
    let room_check = |path: TokenStream, extra: Option<TokenStream>, ty: TokenStream| {
        let binding = extra.as_ref().map(|e| quote!(#e,));
        let value = extra.unwrap_or_else(|| quote!(()));
        quote_spanned! {offset_span=>
            const _: fn(&#ident) = |__m| {
                if let #path { room, #binding .. } = __m {
                    let _: (&::std::string::String, #ty) = (room, #value);
                }
            };
        }
    };
    let stream_meta = if stream_field.is_some() {
        out.items.push(room_check(
            quote!(#ident::#vident),
            Some(quote!(offset)),
            quote!(&u64),
        ));
        quote!(.__with_stream("offset"))
    } else if let Some(announce) = &v.attrs.joins_stream {
        out.items.push(room_check(
            quote!(#ident::#vident),
            Some(quote!(since)),
            quote!(&::core::option::Option<::protocol_core::Since>),
        ));
        let enum_path = crate::dispatch::enum_of(announce);
        // The announcement names the room and its position.
        out.items.push(quote_spanned! {announce.span()=>
            const _: fn(&#enum_path) = |__m| {
                if let #announce { room, epoch, offset, .. } = __m {
                    let _: (&::std::string::String, &::std::string::String, &u64) = (room, epoch, offset);
                }
            };
        });
        let (name, wire) = variant_of_other(announce, out);
        quote!(.__with_role(
            ::protocol_core::StreamRole::Join,
            ::core::option::Option::Some(::protocol_core::__private::ReplyRef::__new(#name, #wire)),
        ))
    } else if v.attrs.leaves_stream {
        out.items
            .push(room_check(quote!(#ident::#vident), None, quote!(())));
        quote!(.__with_role(::protocol_core::StreamRole::Leave, ::core::option::Option::None))
    } else if v.attrs.publishes {
        out.items
            .push(room_check(quote!(#ident::#vident), None, quote!(())));
        if let Some(reply) = &v.attrs.reply {
            let enum_path = crate::dispatch::enum_of(reply);
            out.items.push(quote_spanned! {reply.span()=>
                const _: fn(&#enum_path) = |__m| {
                    if let #reply { offset, .. } = __m {
                        let _: &u64 = offset;
                    }
                };
            });
        }
        quote!(.__with_role(::protocol_core::StreamRole::Publish, ::core::option::Option::None))
    } else {
        quote!()
    };
    let meta = |kind: TokenStream, wire: &str| {
        quote! {
            ::protocol_core::VariantMeta::__new(#name, #wire, &[#(#aliases),*], #doc, ::protocol_core::VariantKind::#kind, #deny, #reply)
                .__with_docs(&[#(#pushes),*], &[#(#error_codes),*])
                #stream_meta
        }
    };
    out.meta_arms.push(
        quote!(#ident::#vident { .. } => &<Self as ::protocol_core::Protocol>::VARIANTS[#index],),
    );
    let meta_ref = quote!(&<#ident as ::protocol_core::Protocol>::VARIANTS[#index]);

    if v.attrs.other {
        let (tag_field, raw_field) = other_fields(v);
        out.metas.push(meta(quote!(Other), "*"));
        out.type_name_arms
            .push(quote!(#ident::#vident { .. } => "*",));
        out.wire_tag_arm = Some(quote!(#ident::#vident { #tag_field, .. } => #tag_field.as_str(),));
        out.ser_arms.push(quote! {
            #ident::#vident { #tag_field, #raw_field } => #p::serialize_other(__serializer, #tag, #tag_field, #raw_field),
        });
        out.other = Some(
            quote!(::core::option::Option::Some(#ident::#vident { #tag_field: __tag, #raw_field: __raw })),
        );
        out.schemas.push(quote!(#p::other_variant_schema(#tag, #meta_ref, <#ident as ::protocol_core::Protocol>::VARIANTS)));
        return;
    }

    out.types.push(wire.clone());
    let names = std::iter::once(wire.clone()).chain(aliases.iter().cloned());
    out.index_arms
        .push(quote!(#(#names)|* => ::core::option::Option::Some(#index),));
    out.type_name_arms
        .push(quote!(#ident::#vident { .. } => #wire,));

    match &v.style {
        Style::Unit => {
            out.metas.push(meta(quote!(Unit), wire));
            out.ser_arms.push(quote! {
                #ident::#vident => #p::serde::Serialize::serialize(&__Unit { __tag: #wire }, __serializer),
            });
            out.de_arms.push(
                quote!(#index => #p::unit_variant(__map, __keys, #deny).map(|()| #ident::#vident),),
            );
            out.schemas
                .push(quote!(#p::unit_variant_schema(#tag, #meta_ref)));
        }
        Style::Newtype(field) => {
            out.metas.push(meta(quote!(Newtype), wire));
            let ty = field.ty;
            let ser = format_ident!("__Ser_{}", vident);
            out.items.push(quote! {
                #[derive(#p::serde::Serialize)]
                #[serde(crate = #SERDE_CRATE)]
                struct #ser<'__p> {
                    #[serde(rename = #tag)]
                    __tag: &'static str,
                    #[serde(flatten)]
                    __inner: &'__p #ty,
                }
            });
            out.ser_arms.push(quote! {
                #ident::#vident(__inner) => #p::serde::Serialize::serialize(&#ser { __tag: #wire, __inner }, __serializer),
            });
            out.de_arms.push(quote!(#index => #p::newtype_variant::<#ty, __M>(__map, __keys, #deny).map(#ident::#vident),));
            out.schemas.push(quote! {
                #p::newtype_variant_schema(<#ty as #p::schemars::JsonSchema>::json_schema(__gen), #tag, #meta_ref)
            });
        }
        Style::Struct(fields) => {
            out.metas.push(meta(quote!(Struct), wire));
            expand_struct_variant(cont, v, fields, index, out);
            let de = format_ident!("__De_{}", vident);
            let aliased = fields
                .iter()
                .filter(|f| !f.attrs.aliases.is_empty())
                .filter_map(|f| {
                    let name = f.wire_name(v.field_rule)?;
                    let aliases = &f.attrs.aliases;
                    Some(quote!((#name, &[#(#aliases),*] as &[&str])))
                });
            // Declaration order, and whether the encoder always writes each field (flattened
            // fields' own names are not known here).
            let order = fields.iter().filter(|f| !f.attrs.flatten).filter_map(|f| {
                let name = f.wire_name(v.field_rule)?;
                let always = f.attrs.skip_serializing_if.is_none() && !f.attrs.skip_serializing;
                Some(quote!((#name, #always)))
            });
            out.schemas.push(quote! {
                #p::struct_variant_schema(<#de as #p::schemars::JsonSchema>::json_schema(__gen), #tag, #meta_ref, &[#(#aliased),*], &[#(#order),*])
            });
        }
    }
}

fn other_fields(v: &Variant<'_>) -> (TokenStream, TokenStream) {
    let Style::Struct(fields) = &v.style else {
        return (quote!(r#type), quote!(raw));
    };
    let raw = fields.iter().find(|f| f.ident.is_some_and(|i| i == "raw"));
    let tag = fields.iter().find(|f| f.ident.is_some_and(|i| i != "raw"));
    match (tag.and_then(|f| f.ident), raw.and_then(|f| f.ident)) {
        (Some(t), Some(r)) => (quote!(#t), quote!(#r)),
        _ => (quote!(r#type), quote!(raw)),
    }
}

fn expand_struct_variant(
    cont: &Container<'_>,
    v: &Variant<'_>,
    fields: &[Field<'_>],
    index: usize,
    out: &mut Pieces,
) {
    let p = private();
    let ident = cont.ident;
    let vident = v.ident;
    let tag = &cont.tag;
    let id_field = cont.id_field();
    let wire = &v.wire_name;
    let de = format_ident!("__De_{}", vident);
    let ser = format_ident!("__Ser_{}", vident);

    let rename_all = v.field_rule.map(|rule| {
        let rule = rule.name();
        quote!(#[serde(rename_all = #rule)])
    });
    let deny = v
        .deny_unknown_fields
        .then(|| quote!(#[serde(deny_unknown_fields)]));

    let idents: Vec<&syn::Ident> = fields.iter().filter_map(|f| f.ident).collect();
    let de_fields = fields.iter().map(|f| {
        let attrs = &f.attrs.forwarded;
        let fident = f.ident;
        let ty = f.ty;
        quote!(#(#attrs)* #fident: #ty,)
    });
    let ser_fields = fields.iter().map(|f| {
        let fident = f.ident;
        let ty = f.ty;
        let mut items = f.attrs.ser_items.clone();
        let field_name = fident.map(|i| i.to_string().trim_start_matches("r#").to_owned()).unwrap_or_default();
        if let Some(path) = &f.attrs.skip_serializing_if {
            let helper = format_ident!("__skip_{}_{}", vident, field_name);
            let helper_str = LitStr::new(&helper.to_string(), Span::call_site());
            out.items.push(quote! {
                fn #helper(__v: &&#ty) -> bool {
                    #path(*__v)
                }
            });
            items.push(quote!(skip_serializing_if = #helper_str));
        }
        if let Some(with) = &f.attrs.serialize_with {
            let helper = format_ident!("__ser_{}_{}", vident, field_name);
            let helper_str = LitStr::new(&helper.to_string(), Span::call_site());
            let call = match with {
                SerializeWith::Module(m) => quote!(#m::serialize(*__v, __s)),
                SerializeWith::Function(f) => quote!(#f(*__v, __s)),
            };
            out.items.push(quote! {
                fn #helper<__S: #p::serde::Serializer>(__v: &&#ty, __s: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                    #call
                }
            });
            items.push(quote!(serialize_with = #helper_str));
        }
        let attr = (!items.is_empty()).then(|| quote!(#[serde(#(#items),*)]));
        quote!(#attr #fident: &'__p #ty,)
    });
    let ser_fields: Vec<TokenStream> = ser_fields.collect();

    out.items.push(quote! {
        #[derive(#p::serde::Deserialize, #p::schemars::JsonSchema)]
        #[serde(crate = #SERDE_CRATE)]
        #[schemars(crate = #SCHEMARS_CRATE)]
        #rename_all
        #deny
        struct #de {
            #(#de_fields)*
            #[serde(rename = #id_field, default, deserialize_with = "::protocol_core::__private::correlation_id")]
            #[schemars(skip)]
            __id: ::core::option::Option<u64>,
            #[serde(rename = #tag, default)]
            #[schemars(skip)]
            __tag: #p::DuplicateTag<#ident>,
        }

        #[derive(#p::serde::Serialize)]
        #[serde(crate = #SERDE_CRATE)]
        #rename_all
        struct #ser<'__p> {
            #[serde(rename = #tag)]
            __tag: &'static str,
            #(#ser_fields)*
            // Uses the lifetime when the variant has no fields (`Create {}`).
            #[serde(skip)]
            __marker: ::core::marker::PhantomData<&'__p ()>,
        }
    });
    out.ser_arms.push(quote! {
        #ident::#vident { #(#idents),* } => #p::serde::Serialize::serialize(&#ser { __tag: #wire, #(#idents,)* __marker: ::core::marker::PhantomData }, __serializer),
    });
    out.de_arms.push(quote! {
        #index => #p::struct_variant::<#de, __M>(__map, __keys).map(|__v| {
            __keys.set_id(__v.__id);
            #ident::#vident { #(#idents: __v.#idents),* }
        }),
    });
}

/// What is emitted next to the errors when the input is invalid: impls with the right names
/// and no behaviour, so the user sees the real error and not a cascade of "trait not
/// implemented" errors wherever the enum is used.
pub fn fallback(input: &syn::DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() || !matches!(input.data, syn::Data::Enum(_)) {
        return TokenStream::new();
    }
    let p = private();
    let ident = &input.ident;
    let name = ident.to_string();
    quote! {
        #[doc(hidden)]
        const _: () = {
            impl #p::serde::Serialize for #ident {
                fn serialize<__S: #p::serde::Serializer>(&self, _: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                    ::core::unreachable!()
                }
            }
            impl<'de> #p::serde::Deserialize<'de> for #ident {
                fn deserialize<__D: #p::serde::Deserializer<'de>>(_: __D) -> ::core::result::Result<Self, __D::Error> {
                    ::core::unreachable!()
                }
            }
            impl #p::schemars::JsonSchema for #ident {
                fn schema_name() -> ::std::borrow::Cow<'static, str> {
                    ::std::borrow::Cow::Borrowed(#name)
                }
                fn json_schema(_: &mut #p::schemars::SchemaGenerator) -> #p::schemars::Schema {
                    ::core::unreachable!()
                }
            }
            impl ::protocol_core::Protocol for #ident {
                const TAG: &'static str = "type";
                const TYPES: &'static [&'static str] = &[];
                const VARIANTS: &'static [::protocol_core::VariantMeta] = &[];
                const HAS_OTHER: bool = false;
                const ID_FIELD: &'static str = "id";
                const ON_UNKNOWN: ::protocol_core::UnknownPolicy = ::protocol_core::UnknownPolicy::Reply;
                fn type_name(&self) -> &'static str {
                    ::core::unreachable!()
                }
                fn json_schema() -> #p::serde_json::Value {
                    ::core::unreachable!()
                }
                fn __variant_index(_: &str) -> ::core::option::Option<usize> {
                    ::core::unreachable!()
                }
                fn __deserialize_variant<'de, __M: #p::serde::de::MapAccess<'de>>(_: usize, _: __M, _: #p::Keys<'_>) -> ::core::result::Result<Self, __M::Error> {
                    ::core::unreachable!()
                }
                fn __other(_: ::std::string::String, _: #p::serde_json::Value) -> ::core::option::Option<Self> {
                    ::core::unreachable!()
                }
            }
        };
    }
}
