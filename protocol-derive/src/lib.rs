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
    match (cx.check(), cont) {
        (Ok(()), Some(cont)) => {
            let mut out = expand::expand(&cont);
            out.extend(dispatch::expand(&cont));
            out.extend(payload::expand(input));
            out
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
