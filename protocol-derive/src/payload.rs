//! One struct per variant, `{Enum}{Variant}`, with the variant's fields and `From` into the
//! enum: the type a request handler returns for its declared reply
//! (`#[protocol(reply = ServerMsg::Sent)]` -> `ServerMsgSent`), so answering a request with any
//! other message is a type error. Made from the plain syntax tree, so the fallback emitted next
//! to a derive error has them too (no cascade of "cannot find type" errors in handlers).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// `ServerMsg::Sent` -> `ServerMsgSent`, keeping the path before the enum.
pub fn reply_type(reply: &syn::Path) -> syn::Path {
    let mut path = reply.clone();
    let segments: Vec<syn::PathSegment> = path.segments.iter().cloned().collect();
    if let [.., enum_seg, variant_seg] = segments.as_slice() {
        // Spanned at the derive, not at the variant: when the variant does not exist, the
        // error that matters is the one on the `reply` path ("no variant named ..."); this one
        // only says which type is missing.
        let name = format_ident!(
            "{}{}",
            enum_seg.ident,
            variant_seg.ident,
            span = proc_macro2::Span::call_site()
        );
        let mut out: Vec<syn::PathSegment> = segments[..segments.len() - 2].to_vec();
        out.push(syn::PathSegment::from(name));
        path.segments = out.into_iter().collect();
    }
    path
}

fn docs(attrs: &[syn::Attribute]) -> Vec<&syn::Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("doc")).collect()
}

pub fn expand(input: &syn::DeriveInput) -> TokenStream {
    let syn::Data::Enum(data) = &input.data else {
        return TokenStream::new();
    };
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let enum_ident = &input.ident;
    let vis = &input.vis;
    let mut out = TokenStream::new();
    for v in &data.variants {
        let vident = &v.ident;
        let name = format_ident!("{}{}", enum_ident, vident, span = vident.span());
        let summary = format!(
            "The [`{enum_ident}::{vident}`] message as a type of its own (made by \
             `#[derive(Protocol)]`): what a request handler returns when `{vident}` is its \
             declared reply. `.into()` gives the [`{enum_ident}`]; `try_from` takes it back."
        );
        let variant_docs = docs(&v.attrs);
        let sep = (!variant_docs.is_empty()).then(|| quote!(#[doc = ""]));
        let head = quote! {
            #(#variant_docs)*
            #sep
            #[doc = #summary]
            #[allow(missing_docs)]
        };
        match &v.fields {
            syn::Fields::Unit => out.extend(quote! {
                #head
                #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
                #vis struct #name;
                #[automatically_derived]
                impl ::core::convert::From<#name> for #enum_ident {
                    fn from(_: #name) -> Self { #enum_ident::#vident }
                }
                #[automatically_derived]
                impl ::core::convert::TryFrom<#enum_ident> for #name {
                    type Error = #enum_ident;
                    fn try_from(__m: #enum_ident) -> ::core::result::Result<Self, #enum_ident> {
                        match __m {
                            #enum_ident::#vident => ::core::result::Result::Ok(#name),
                            #[allow(unreachable_patterns)]
                            __other => ::core::result::Result::Err(__other),
                        }
                    }
                }
            }),
            syn::Fields::Named(fields) => {
                let names: Vec<&syn::Ident> = fields
                    .named
                    .iter()
                    .filter_map(|f| f.ident.as_ref())
                    .collect();
                let defs = fields.named.iter().filter_map(|f| {
                    let (ident, ty, d) = (f.ident.as_ref()?, &f.ty, docs(&f.attrs));
                    Some(quote!(#(#d)* pub #ident: #ty))
                });
                out.extend(quote! {
                    #head
                    #vis struct #name { #(#defs),* }
                    #[automatically_derived]
                    impl ::core::convert::From<#name> for #enum_ident {
                        fn from(__v: #name) -> Self { #enum_ident::#vident { #(#names: __v.#names),* } }
                    }
                    #[automatically_derived]
                    impl ::core::convert::TryFrom<#enum_ident> for #name {
                        type Error = #enum_ident;
                        fn try_from(__m: #enum_ident) -> ::core::result::Result<Self, #enum_ident> {
                            match __m {
                                #enum_ident::#vident { #(#names),* } => ::core::result::Result::Ok(#name { #(#names),* }),
                                #[allow(unreachable_patterns)]
                                __other => ::core::result::Result::Err(__other),
                            }
                        }
                    }
                });
            }
            syn::Fields::Unnamed(fields) => {
                let tys = fields.unnamed.iter().map(|f| &f.ty);
                let index: Vec<syn::Index> =
                    (0..fields.unnamed.len()).map(syn::Index::from).collect();
                let binds: Vec<syn::Ident> = (0..fields.unnamed.len())
                    .map(|i| format_ident!("__f{}", i))
                    .collect();
                out.extend(quote! {
                    #head
                    #vis struct #name(#(pub #tys),*);
                    #[automatically_derived]
                    impl ::core::convert::From<#name> for #enum_ident {
                        fn from(__v: #name) -> Self { #enum_ident::#vident(#(__v.#index),*) }
                    }
                    #[automatically_derived]
                    impl ::core::convert::TryFrom<#enum_ident> for #name {
                        type Error = #enum_ident;
                        fn try_from(__m: #enum_ident) -> ::core::result::Result<Self, #enum_ident> {
                            match __m {
                                #enum_ident::#vident(#(#binds),*) => ::core::result::Result::Ok(#name(#(#binds),*)),
                                #[allow(unreachable_patterns)]
                                __other => ::core::result::Result::Err(__other),
                            }
                        }
                    }
                });
            }
        }
    }
    out
}
