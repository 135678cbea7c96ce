//! `#[derive(Protocol)]`: the proc macro behind `protocol_core::Protocol`.
//!
//! Use it through `protocol-core`, which re-exports it and documents the attributes. The macro
//! parses (`ast`, `attr`), validates (`check`) and expands (`expand`); generated code calls
//! into `protocol_core::__private`.

mod ast;
mod attr;
mod case;
mod check;
mod ctxt;
mod dispatch;
mod expand;
mod payload;

use proc_macro::TokenStream;
use proc_macro2::{Group, Literal, TokenTree};
use quote::ToTokens;
use syn::{DeriveInput, parse_macro_input};

/// Derive `protocol_core::Protocol`, `Serialize`, `Deserialize` and `JsonSchema` for a
/// `type`-tagged message enum. See the `protocol-core` documentation.
#[proc_macro_derive(Protocol, attributes(protocol, serde, schemars))]
pub fn derive_protocol(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input).into()
}

fn derive(input: &DeriveInput) -> proc_macro2::TokenStream {
    let cx = ctxt::Ctxt::default();
    let cont = ast::Container::from_ast(&cx, input);
    if let Some(cont) = &cont {
        check::check(&cx, cont);
    }
    let krate = cont.as_ref().and_then(|c| c.attrs.krate.clone());
    match (cx.check(), cont) {
        (Ok(()), Some(cont)) => {
            let mut out = expand::expand(&cont);
            out.extend(dispatch::expand(&cont));
            out.extend(payload::expand(input));
            match krate {
                Some(path) => with_crate(out, &path),
                None => out,
            }
        }
        (Err(e), _) => {
            let mut out = e.to_compile_error();
            out.extend(expand::fallback(input));
            out.extend(payload::expand(input));
            out
        }
        (Ok(()), None) => {
            let mut out = expand::fallback(input);
            out.extend(payload::expand(input));
            out
        }
    }
}

/// The generated code with every `::protocol_core` path (and the `"::protocol_core..."` crate
/// strings given to serde and schemars) pointing at `krate` instead: `#[protocol(crate = ...)]`.
fn with_crate(tokens: proc_macro2::TokenStream, krate: &syn::Path) -> proc_macro2::TokenStream {
    let path = krate.to_token_stream();
    let text = path.to_string().replace(' ', "");
    rewrite(tokens, &path, &text)
}

fn rewrite(
    tokens: proc_macro2::TokenStream,
    path: &proc_macro2::TokenStream,
    text: &str,
) -> proc_macro2::TokenStream {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = proc_macro2::TokenStream::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_path = matches!(
            (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)),
            (TokenTree::Punct(a), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(c)))
                if a.as_char() == ':' && b.as_char() == ':' && c == "protocol_core"
        );
        if is_path {
            out.extend(path.clone());
            i += 3;
            continue;
        }
        match &tokens[i] {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), rewrite(g.stream(), path, text));
                group.set_span(g.span());
                out.extend([TokenTree::Group(group)]);
            }
            TokenTree::Literal(l) => {
                let s = l.to_string();
                match s.strip_prefix("\"::protocol_core") {
                    Some(rest) => {
                        let mut lit =
                            Literal::string(&format!("{text}{}", rest.trim_end_matches('"')));
                        lit.set_span(l.span());
                        out.extend([TokenTree::Literal(lit)]);
                    }
                    None => out.extend([tokens[i].clone()]),
                }
            }
            other => out.extend([other.clone()]),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_crate_path_replaces_every_protocol_core_path() {
        let input: syn::DeriveInput = syn::parse_quote! {
            #[protocol(crate = "crate::deps::pc", rename_all = "snake_case")]
            enum ClientMsg {
                #[protocol(reply = ServerMsg::Pong)]
                Ping,
                Join { room: String },
            }
        };
        let out = super::derive(&input).to_string();
        // Paths (`:: protocol_core :: X` as tokens) and crate strings; doc text may still name it.
        assert!(!out.contains(":: protocol_core"), "{out}");
        assert!(!out.contains("\"::protocol_core"), "{out}");
        assert!(out.contains("crate :: deps :: pc :: Protocol"), "{out}");
        assert!(
            out.contains("\"crate::deps::pc::__private::serde\""),
            "{out}"
        );
    }
}
