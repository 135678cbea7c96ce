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
    for (index, v) in cont.variants.iter().enumerate() {
        let method = method_name(v);
        let (params, names, pattern) = params(cont, v);
        let is_request = v.attrs.reply.is_some();
        let err = match &v.attrs.error {
            Some(ty) => quote!(#ty),
            None => quote!(::protocol_core::ErrorReply),
        };
        let ret = if is_request {
            quote!(::core::result::Result<Self::Out, #err>)
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
            let reply = quote!(#reply).to_string().replace(' ', "");
            doc.push_str(&format!(
                " A request: the `Ok` value is the reply (`{reply}`), sent with the request's id."
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
                cx: &::protocol_core::Context<Self::Out>,
                #(#params),*
            ) -> impl ::core::future::Future<Output = #ret> + ::core::marker::Send #body
        });
        let call = quote! {
            __handler.#method(__cx, #(#names),*).await.map_err(::core::convert::Into::<::protocol_core::ErrorReply>::into)
        };
        arms.push(if is_request {
            quote! {
                #pattern => #call.map(|__reply| {
                    ::protocol_core::__private::check_reply(&<#ident as ::protocol_core::Protocol>::VARIANTS[#index], &__reply);
                    ::core::option::Option::Some(__reply)
                }),
            }
        } else {
            quote!(#pattern => #call.map(|()| ::core::option::Option::None),)
        });
    }
    let out_bound = reply_enum.as_ref().map(|e| quote!(<Out = #e>));
    let trait_doc = format!(
        "Handles every message type of [`{ident}`]: one method per variant, generated by `#[derive(Protocol)]`. \
         Implement it for your app state and serve it, or call [`protocol_core::dispatch()`] in tests."
    );
    let missing = format!("`{{Self}}` does not implement `{trait_name}`");
    let note = format!(
        "add `impl {trait_name} for {{Self}}` with `type Out` and one `on_*` method per message type of `{ident}`"
    );
    quote! {
        #[doc = #trait_doc]
        #[diagnostic::on_unimplemented(message = #missing, label = "not a handler of these messages", note = #note)]
        #vis trait #trait_name: ::core::marker::Send + ::core::marker::Sync + 'static {
            /// The protocol of the other direction: replies, pushes and broadcasts.
            type Out: ::protocol_core::Protocol;

            #(#methods)*
        }

        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl<__H: #trait_name #out_bound> ::protocol_core::Dispatch<__H> for #ident {
                type Out = <__H as #trait_name>::Out;

                fn dispatch(
                    __handler: &__H,
                    __cx: &::protocol_core::Context<Self::Out>,
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
            }
        };
    }
}
