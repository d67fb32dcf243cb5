//! `#[derive(Audited)]`: automatic activity log and versions for a SeaORM entity, and
//! `#[audit_seaorm::behavior]` for an entity that keeps its own `ActiveModelBehavior`.
//!
//! Use them through `audit-seaorm`, which re-exports them; see that crate's documentation
//! for the attribute reference. The derive parses the model (`ast`), checks it (`valid`)
//! and generates the code (`expand`); the attribute is `behavior`. Every misuse is a compile
//! error on the offending token.

mod ast;
mod attr;
mod behavior;
mod expand;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Makes a SeaORM entity audited: implements `Audited` and `AuditedModel` for the `Model`
/// and `ActiveModelBehavior` for its `ActiveModel` (unless `#[audit(manual_hooks)]`).
///
/// Struct attributes: `#[audit(subject = "post")]` (the subject type written to the log;
/// default: the table name), `#[audit(manual_hooks)]` (you write `ActiveModelBehavior`
/// yourself and call `audit_seaorm::hooks::*` from it), `#[audit(crate = "path")]` (the
/// path of `audit-seaorm` when your `Cargo.toml` renames it; default `::audit_seaorm`).
///
/// Field attributes: `#[audit(skip)]` (neither logged nor restored), `#[audit(redact)]`
/// (the change is recorded, the value never is), `#[audit(log)]` (logged, on a field whose
/// serialization serde attributes change: `#[serde(skip)]`, `skip_serializing`, `with`,
/// `serialize_with`; such a field needs one of the three, so that a value hidden from
/// serde is not logged in clear by accident). The type
/// of every other field must implement `serde::Serialize` and `serde::Deserialize`: it is
/// stored as JSON (the type's own serde; the model's field attributes do not apply).
///
/// # An entity that already has `impl ActiveModelBehavior for ActiveModel`
///
/// Every entity sea-orm-cli generates has one, and the derive generates one too, so adding
/// the derive alone fails with E0119, conflicting implementations of `ActiveModelBehavior`.
/// Put [`macro@behavior`] (`#[audit_seaorm::behavior]`) on your impl, empty or with hooks,
/// and change nothing else: the derived impl then runs your hooks around the audit hooks.
/// (An empty impl can also simply be deleted.) The error
///
/// ```text
/// error[E0119]: conflicting implementations of trait `sea_orm::ActiveModelBehavior` for type `ActiveModel`
///    | #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
///    |                                                      ^^^^^^^ conflicting implementation for `ActiveModel`
/// ...
///    | impl ActiveModelBehavior for ActiveModel {}
///    | ---------------------------------------- first implementation here
/// ```
///
/// is fixed by
///
/// ```text
/// #[audit_seaorm::behavior]
/// impl ActiveModelBehavior for ActiveModel {}
/// ```
///
/// A struct named `ModelEx` gets nothing: it is the extended model `#[sea_orm::model]`
/// generates, with the user's derive list copied onto it.
#[proc_macro_derive(Audited, attributes(audit))]
pub fn derive_audited(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input).into()
}

/// Keeps an entity's own `impl ActiveModelBehavior for ActiveModel` next to
/// `#[derive(Audited)]`, whose generated `ActiveModelBehavior` would otherwise conflict with
/// it (E0119). Write it on the impl, above `#[async_trait]` if the impl has one; nothing
/// else changes, not even the model's attributes.
///
/// The derived impl calls your hooks and the audit hooks in this order:
///
/// | hook | order |
/// |---|---|
/// | `new` | yours |
/// | `before_save` | yours, then the audit hook on what yours returned |
/// | `after_save` | the audit hook, then yours on the model it returned: a failing `after_save` of yours cannot leave a successful write unlogged |
/// | `before_delete` | yours, then the audit hook |
/// | `after_delete` | the audit hook, then yours |
///
/// A hook you do not define does nothing, as in `ActiveModelBehavior`. `#[async_trait]` on
/// the impl is optional: the hooks are plain `async fn`s either way.
///
/// ```
/// mod post {
///     use audit_seaorm::Audited;
///     use sea_orm::entity::prelude::*;
///
///     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
///     #[sea_orm(table_name = "posts")]
///     pub struct Model {
///         #[sea_orm(primary_key)]
///         pub id: i32,
///         pub title: String,
///         pub slug: String,
///     }
///
///     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
///     pub enum Relation {}
///
///     #[audit_seaorm::behavior]
///     #[async_trait::async_trait]
///     impl ActiveModelBehavior for ActiveModel {
///         async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
///         where
///             C: ConnectionTrait,
///         {
///             if let sea_orm::ActiveValue::Set(title) = &self.title {
///                 self.slug = sea_orm::Set(title.to_lowercase().replace(' ', "-"));
///             }
///             Ok(self) // the audit hook sees the slug
///         }
///     }
/// }
/// # fn main() {}
/// ```
///
/// How it works, since a macro cannot see another item: the attribute turns the impl into
/// an impl of a hidden trait and declares a hidden struct whose name shadows a glob import
/// the derive puts in the module; the derived `ActiveModelBehavior` calls the hooks through
/// that name. So the attribute must be in the module of the `#[derive(Audited)]` model (the
/// usual `impl … for ActiveModel` next to it), and not next to `#[audit(manual_hooks)]`;
/// otherwise it is a compile error, never hooks silently not called.
///
/// `#[audit(manual_hooks)]` still works as before: no `ActiveModelBehavior` from the
/// derive, your impl calls `audit_seaorm::hooks::*` itself.
#[proc_macro_attribute]
pub fn behavior(args: TokenStream, item: TokenStream) -> TokenStream {
    behavior::expand(args.into(), item.into()).into()
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
            // A SeaORM entity still needs an `ActiveModelBehavior`: it has a table name, or
            // (the expanded format names its table in `impl EntityName`) a subject or a key.
            let entity = model.as_ref().is_some_and(|m| {
                m.table_name.is_some()
                    || m.attrs.subject.is_set()
                    || m.fields.iter().any(|f| f.sea_orm.primary_key)
            });
            let manual = model
                .as_ref()
                .is_some_and(|m| m.attrs.manual_hooks.is_set());
            let krate = attr::runtime_path(model.as_ref().and_then(|m| m.attrs.krate.get()));
            let mut out = error.to_compile_error();
            out.extend(expand::fallback(entity, manual, &krate));
            out
        }
    }
}
