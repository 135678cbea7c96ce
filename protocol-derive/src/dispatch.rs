//! The handler trait (`{Enum}Handler`, one async method per variant) and the `Dispatch` impl
//! whose `dispatch` is a `match` calling those methods.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::{Container, Style, Variant};
use crate::case::to_snake;

/// The enum named by the `reply` attributes (`ServerMsg` in `reply = ServerMsg::Sent`).
pub fn reply_enum(cont: &Container<'_>) -> Option<syn::Path> {
    cont.variants
        .iter()
        .find_map(|v| v.attrs.reply.as_ref())
        .map(enum_of)
}

/// `ServerMsg::Sent` -> `ServerMsg`.
pub fn enum_of(path: &syn::Path) -> syn::Path {
    let mut p = path.clone();
    let segments: Vec<syn::PathSegment> = p.segments.iter().cloned().collect();
    p.segments = segments[..segments.len().saturating_sub(1)]
        .iter()
        .cloned()
        .collect();
    p
}

pub fn trait_name(cont: &Container<'_>) -> syn::Ident {
    cont.attrs
        .handler
        .clone()
        .unwrap_or_else(|| format_ident!("{}Handler", cont.ident))
}

fn method_name(v: &Variant<'_>) -> syn::Ident {
    format_ident!("on_{}", to_snake(&v.ident.to_string()))
}

/// The parameters of a variant's method (after `cx`) and the pattern that binds them.
fn params(
    cont: &Container<'_>,
    v: &Variant<'_>,
) -> (Vec<TokenStream>, Vec<syn::Ident>, TokenStream) {
    let ident = cont.ident;
    let vident = v.ident;
    match &v.style {
        Style::Unit => (Vec::new(), Vec::new(), quote!(#ident::#vident)),
        Style::Newtype(f) => {
            let ty = f.ty;
            let name = format_ident!("msg");
            (
                vec![quote!(#name: #ty)],
                vec![name.clone()],
                quote!(#ident::#vident(#name)),
            )
        }
        Style::Struct(fields) => {
            let names: Vec<syn::Ident> = fields.iter().filter_map(|f| f.ident.cloned()).collect();
            let params = fields
                .iter()
                .filter_map(|f| {
                    let name = f.ident?;
                    let ty = f.ty;
                    Some(quote!(#name: #ty))
                })
                .collect();
            (
                params,
                names.clone(),
                quote!(#ident::#vident { #(#names),* }),
            )
        }
    }
}

pub fn expand(cont: &Container<'_>) -> TokenStream {
    let ident = cont.ident;
    let vis = &cont.input.vis;
    let trait_name = trait_name(cont);
    let reply_enum = reply_enum(cont);
    let mut methods = Vec::new();
    let mut arms = Vec::new();
    for v in &cont.variants {
        let method = method_name(v);
        let (params, names, pattern) = params(cont, v);
        let is_request = v.attrs.reply.is_some();
        let err = match &v.attrs.error {
            Some(ty) => quote!(#ty),
            None => quote!(::protocol_core::ErrorReply),
        };
        let ret = if let Some(reply) = &v.attrs.reply {
            let reply_type = crate::payload::reply_type(reply);
            quote!(::core::result::Result<#reply_type, #err>)
        } else {
            quote!(::core::result::Result<(), #err>)
        };
        let wire = if v.attrs.other {
            "(any unknown type)".to_owned()
        } else {
            format!("`{}`", v.wire_name)
        };
        let mut doc = v.doc.clone();
        if !doc.is_empty() {
            doc.push_str("\n\n");
        }
        doc.push_str(&format!(
            "Handles {wire} messages ([`{ident}::{}`]).",
            v.ident
        ));
        if let Some(reply) = &v.attrs.reply {
            let reply_type = crate::payload::reply_type(reply);
            let reply_type = quote!(#reply_type).to_string().replace(' ', "");
            let reply = quote!(#reply).to_string().replace(' ', "");
            doc.push_str(&format!(
                " A request: the `Ok` value is its declared reply (`{reply}`, as the type \
                 `{reply_type}`), sent with the request's id; no other message can answer it."
            ));
        }
        let body = if cont.attrs.handler_default {
            let message = format!("no handler for message type {wire}");
            quote! {
                {
                    let _ = (cx, #(#names),*);
                    async { ::core::result::Result::Err(::core::convert::From::from(::protocol_core::ErrorReply::new("not_implemented", #message))) }
                }
            }
        } else {
            quote!(;)
        };
        methods.push(quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments)]
            fn #method(
                &self,
                cx: &<Cx as ::protocol_core::ContextKind>::For<Self::Out>,
                #(#params),*
            ) -> impl ::core::future::Future<Output = #ret> + ::core::marker::Send #body
        });
        let call = quote! {
            <__H as #trait_name<__K>>::#method(__handler, __cx, #(#names),*).await.map_err(::core::convert::Into::<::protocol_core::ErrorReply>::into)
        };
        arms.push(if is_request {
            quote! {
                #pattern => #call.map(|__reply| {
                    ::core::option::Option::Some(::core::convert::Into::<Self::Out>::into(__reply))
                }),
            }
        } else {
            quote!(#pattern => #call.map(|()| ::core::option::Option::None),)
        });
    }
    let out_bound = reply_enum.as_ref().map(|e| quote!(Out = #e));
    let trait_doc = format!(
        "Handles every message type of [`{ident}`]: one method per variant, generated by `#[derive(Protocol)]`. \
         Implement it for your app state and serve it, or call [`protocol_core::dispatch()`] in tests. \
         `Cx` is the kind of context the methods get: the runtime's `Context` unless you name another \
         (`impl {trait_name}<MySocket> for App`, see `protocol_core::ContextKind`)."
    );
    let missing = format!("`{{Self}}` does not implement `{trait_name}`");
    let note = format!(
        "add `impl {trait_name} for {{Self}}` with `type Out` and one `on_*` method per message type of `{ident}`"
    );
    quote! {
        #[doc = #trait_doc]
        #[diagnostic::on_unimplemented(message = #missing, label = "not a handler of these messages", note = #note)]
        #vis trait #trait_name<Cx: ::protocol_core::ContextKind = ::protocol_core::__private::DefaultContextKind>: ::core::marker::Send + ::core::marker::Sync + 'static {
            /// The protocol of the other direction: replies, pushes and broadcasts.
            type Out: ::protocol_core::Protocol;

            /// A connection opened: called once, before its first message (default: nothing).
            fn connected(
                &self,
                cx: &<Cx as ::protocol_core::ContextKind>::For<Self::Out>,
            ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                let _ = cx;
                async {}
            }

            /// A connection ended, whatever ended it (the peer, a limit, shutdown): called once,
            /// on the node that served it, while it is still in its rooms (default: nothing).
            fn disconnected(
                &self,
                cx: &<Cx as ::protocol_core::ContextKind>::For<Self::Out>,
                end: &::protocol_core::Disconnect,
            ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                let _ = (cx, end);
                async {}
            }

            #(#methods)*
        }

        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl<__K: ::protocol_core::ContextKind, __H: #trait_name<__K, #out_bound>> ::protocol_core::Dispatch<__H, __K> for #ident {
                type Out = <__H as #trait_name<__K>>::Out;

                fn dispatch(
                    __handler: &__H,
                    __cx: &<__K as ::protocol_core::ContextKind>::For<Self::Out>,
                    __msg: Self,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<::core::option::Option<Self::Out>, ::protocol_core::ErrorReply>,
                > + ::core::marker::Send {
                    async move {
                        match __msg {
                            #(#arms)*
                        }
                    }
                }

                fn connected(
                    __handler: &__H,
                    __cx: &<__K as ::protocol_core::ContextKind>::For<Self::Out>,
                ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                    <__H as #trait_name<__K>>::connected(__handler, __cx)
                }

                fn disconnected(
                    __handler: &__H,
                    __cx: &<__K as ::protocol_core::ContextKind>::For<Self::Out>,
                    __end: &::protocol_core::Disconnect,
                ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                    <__H as #trait_name<__K>>::disconnected(__handler, __cx, __end)
                }
            }
        };
    }
}
