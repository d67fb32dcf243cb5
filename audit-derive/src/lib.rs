//! `#[derive(Audited)]`: automatic activity log and versions for a SeaORM entity.
//!
//! Use it through `audit-seaorm`, which re-exports it; see that crate's documentation for
//! the attribute reference. The derive parses the model (`ast`), checks it (`valid`) and
//! generates the code (`expand`); every misuse is a compile error on the offending token.

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Makes a SeaORM entity audited: implements `Audited` and `AuditedModel` for the `Model`
/// and `ActiveModelBehavior` for its `ActiveModel` (unless `#[audit(manual_hooks)]`).
///
/// Struct attributes: `#[audit(subject = "post")]` (the subject type written to the log;
/// default: the table name), `#[audit(manual_hooks)]` (you write `ActiveModelBehavior`
/// yourself and call `audit_seaorm::hooks::*` from it).
///
/// Field attributes: `#[audit(skip)]` (neither logged nor restored), `#[audit(redact)]`
/// (the change is recorded, the value never is).
///
/// A struct named `ModelEx` gets nothing: it is the extended model `#[sea_orm::model]`
/// generates, with the user's derive list copied onto it.
#[proc_macro_derive(Audited, attributes(audit))]
pub fn derive_audited(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input).into()
}

fn derive(input: &DeriveInput) -> proc_macro2::TokenStream {
    // `#[sea_orm::model]` copies the derive list onto the generated `ModelEx`: the model
    // itself carries the audit impls, the extended one needs none.
    if input.ident == "ModelEx" {
        return proc_macro2::TokenStream::new();
    }
    if !input.generics.params.is_empty() {
        return syn::Error::new(
            syn::spanned::Spanned::span(&input.generics),
            "`#[derive(Audited)]` does not support generic structs",
        )
        .to_compile_error();
    }
    let mut errors = attr::Errors::default();
    let model = ast::Model::from_input(input, &mut errors);
    if let Some(model) = &model {
        valid::check(model, &mut errors);
    }
    match (errors.finish(), model) {
        (Ok(()), Some(model)) => expand::expand(&model),
        (result, model) => {
            let error = result.err().unwrap_or_else(|| {
                syn::Error::new(
                    input.ident.span(),
                    "`#[derive(Audited)]` could not read this item",
                )
            });
            // A SeaORM entity (it has a table name) still needs an `ActiveModelBehavior`.
            let entity = model.as_ref().is_some_and(|m| m.table_name.is_some());
            let manual = model
                .as_ref()
                .is_some_and(|m| m.attrs.manual_hooks.is_set());
            let mut out = error.to_compile_error();
            out.extend(expand::fallback(entity, manual));
            out
        }
    }
}
