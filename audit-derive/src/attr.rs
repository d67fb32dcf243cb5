//! Reading `#[audit(...)]` and the `#[sea_orm(...)]` keys the derive needs.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, LitStr, Token};

/// Attribute keys, in one place.
pub mod key {
    pub const AUDIT: &str = "audit";
    pub const SEA_ORM: &str = "sea_orm";
    pub const SUBJECT: &str = "subject";
    pub const MANUAL_HOOKS: &str = "manual_hooks";
    pub const SKIP: &str = "skip";
    pub const REDACT: &str = "redact";
    pub const LOG: &str = "log";
    pub const SERDE: &str = "serde";
    pub const TABLE_NAME: &str = "table_name";
    pub const SCHEMA_NAME: &str = "schema_name";
    pub const PRIMARY_KEY: &str = "primary_key";
    pub const COLUMN_NAME: &str = "column_name";
    pub const ENUM_NAME: &str = "enum_name";
    pub const IGNORE: &str = "ignore";
    pub const CRATE: &str = "crate";
}

/// The path of the runtime crate the generated code names: `#[audit(crate = "…")]`, else
/// `::audit_seaorm` (as serde's `#[serde(crate = "…")]`).
pub fn runtime_path(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(path) => quote::quote!(#path),
        None => quote::quote!(::audit_seaorm),
    }
}

/// Collects every error instead of stopping at the first (serde's `Ctxt`).
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(e) => e.combine(error),
            None => self.0 = Some(error),
        }
    }
    pub fn error(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }
    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A flag or value that may be given once.
pub struct Once<T> {
    name: &'static str,
    value: Option<(Span, T)>,
}

impl<T> Once<T> {
    pub fn new(name: &'static str) -> Self {
        Self { name, value: None }
    }
    pub fn set(&mut self, errors: &mut Errors, span: Span, value: T) {
        if self.value.is_some() {
            errors.error(span, format!("duplicate audit attribute `{}`", self.name));
        } else {
            self.value = Some((span, value));
        }
    }
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }
    pub fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(s, _)| *s)
    }
    pub fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

/// `#[audit(...)]` on the struct.
pub struct StructAttrs {
    pub subject: Once<LitStr>,
    pub manual_hooks: Once<()>,
    pub krate: Once<syn::Path>,
}

/// `#[audit(...)]` on a field, and whether serde hides it.
pub struct FieldAttrs {
    pub skip: Once<()>,
    pub redact: Once<()>,
    /// `#[audit(log)]`: logged although serde hides it.
    pub log: Once<()>,
    /// `#[serde(skip)]` or `#[serde(skip_serializing)]`: that key's span and name.
    pub serde_hidden: Option<(Span, String)>,
}

/// The `#[sea_orm(...)]` keys the derive reads; every other key is left to SeaORM.
#[derive(Default)]
pub struct SeaOrmAttrs {
    pub table_name: Option<LitStr>,
    pub schema_name: Option<LitStr>,
    pub primary_key: bool,
    pub column_name: Option<LitStr>,
    /// The field's `enum Column` variant, when renamed.
    pub enum_name: Option<LitStr>,
    pub ignore: bool,
}

fn flag(meta: &syn::meta::ParseNestedMeta<'_>, errors: &mut Errors, name: &str) -> bool {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        errors.error(
            meta.path.span(),
            format!("audit attribute `{name}` takes no value"),
        );
        // Consume the value so parsing can go on.
        let _ = meta.value().and_then(|v| v.parse::<Expr>());
        let _ = meta.input.step(|cursor| {
            let mut rest = *cursor;
            if let Some((_, _, next)) = rest.group(proc_macro2::Delimiter::Parenthesis) {
                rest = next;
            }
            Ok(((), rest))
        });
        return false;
    }
    true
}

fn audit_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident(key::AUDIT))
}

fn parse_audit_list(
    attr: &Attribute,
    errors: &mut Errors,
    mut on_key: impl FnMut(&syn::meta::ParseNestedMeta<'_>, &str, &mut Errors) -> syn::Result<()>,
) {
    let syn::Meta::List(list) = &attr.meta else {
        errors.error(attr.span(), "expected `#[audit(...)]`");
        return;
    };
    // An empty list says nothing: most likely an option was meant and left out.
    if list.tokens.is_empty() {
        errors.error(
            attr.span(),
            "empty `#[audit()]`: name an option (such as `skip` or `redact`) or remove it",
        );
        return;
    }
    let result = attr.parse_nested_meta(|meta| {
        let name = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_else(|| {
                let path = &meta.path;
                quote::quote!(#path).to_string().replace(' ', "")
            });
        on_key(&meta, &name, errors)
    });
    if let Err(e) = result {
        errors.push(e);
    }
}

impl StructAttrs {
    pub fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = StructAttrs {
            subject: Once::new(key::SUBJECT),
            manual_hooks: Once::new(key::MANUAL_HOOKS),
            krate: Once::new(key::CRATE),
        };
        for attr in audit_attrs(attrs) {
            parse_audit_list(attr, errors, |meta, name, errors| {
                match name {
                    key::SUBJECT => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if lit.value().trim().is_empty() {
                            errors.error(lit.span(), "audit attribute `subject` must not be empty");
                        }
                        out.subject.set(errors, meta.path.span(), lit);
                    }
                    key::MANUAL_HOOKS => {
                        if flag(meta, errors, name) {
                            out.manual_hooks.set(errors, meta.path.span(), ());
                        }
                    }
                    key::CRATE => {
                        let path = crate_path(meta)?;
                        out.krate.set(errors, meta.path.span(), path);
                    }
                    key::SKIP | key::REDACT | key::LOG => {
                        errors.error(
                            meta.path.span(),
                            format!(
                                "audit attribute `{name}` belongs on a field, not on the struct"
                            ),
                        );
                        skip_value(meta);
                    }
                    _ => {
                        errors.error(
                            meta.path.span(),
                            format!(
                                "unknown audit attribute `{name}`; expected `subject`, `manual_hooks` or `crate`"
                            ),
                        );
                        skip_value(meta);
                    }
                }
                Ok(())
            });
        }
        out
    }
}

impl FieldAttrs {
    pub fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = FieldAttrs {
            skip: Once::new(key::SKIP),
            redact: Once::new(key::REDACT),
            log: Once::new(key::LOG),
            serde_hidden: serde_hidden(attrs),
        };
        for attr in audit_attrs(attrs) {
            parse_audit_list(attr, errors, |meta, name, errors| {
                match name {
                    key::SKIP => {
                        if flag(meta, errors, name) {
                            out.skip.set(errors, meta.path.span(), ());
                        }
                    }
                    key::REDACT => {
                        if flag(meta, errors, name) {
                            out.redact.set(errors, meta.path.span(), ());
                        }
                    }
                    key::LOG => {
                        if flag(meta, errors, name) {
                            out.log.set(errors, meta.path.span(), ());
                        }
                    }
                    key::SUBJECT | key::MANUAL_HOOKS | key::CRATE => {
                        errors.error(
                            meta.path.span(),
                            format!(
                                "audit attribute `{name}` belongs on the struct, not on a field"
                            ),
                        );
                        skip_value(meta);
                    }
                    _ => {
                        errors.error(
                            meta.path.span(),
                            format!(
                                "unknown audit attribute `{name}`; expected `skip`, `redact` or `log`"
                            ),
                        );
                        skip_value(meta);
                    }
                }
                Ok(())
            });
        }
        out
    }
}

/// The serde keys that hide a field from serde (`skip`, `skip_serializing`) or have serde
/// write it its own way (`with`, `serialize_with`: a mask, a format), where the trail
/// writes each field with its type's own serde.
pub const SERDE_HIDING: [&str; 4] = ["skip", "skip_serializing", "serialize_with", "with"];

/// The first of [`SERDE_HIDING`] among a field's attributes: the key's span and name. Every
/// other serde key is passed over.
fn serde_hidden(attrs: &[Attribute]) -> Option<(Span, String)> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident(key::SERDE)) {
        let _ = attr.parse_nested_meta(|meta| {
            for hides in SERDE_HIDING {
                if found.is_none() && meta.path.is_ident(hides) {
                    found = Some((meta.path.span(), hides.to_owned()));
                }
            }
            skip_value(&meta);
            Ok(())
        });
    }
    found
}

/// `crate = "path"`: the path of a renamed `audit-seaorm` dependency.
pub fn crate_path(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<syn::Path> {
    let lit: LitStr = meta.value()?.parse()?;
    lit.parse::<syn::Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "audit attribute `crate` takes the path of the audit-seaorm crate, such as \"::audit_seaorm\"; `{}` is not a path",
                lit.value()
            ),
        )
    })
}

/// Skips `= value` or `(...)` after a key we report as wrong.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) {
    if meta.input.peek(Token![=]) {
        let _ = meta.value().and_then(|v| v.parse::<Expr>());
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.input.step(|cursor| {
            let rest = match cursor.group(proc_macro2::Delimiter::Parenthesis) {
                Some((_, _, next)) => next,
                None => *cursor,
            };
            Ok(((), rest))
        });
    }
}

impl SeaOrmAttrs {
    /// Reads the keys the derive needs, tolerating every other SeaORM key.
    pub fn parse(attrs: &[Attribute]) -> Self {
        let mut out = SeaOrmAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident(key::SEA_ORM)) {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(key::TABLE_NAME) {
                    out.table_name = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident(key::SCHEMA_NAME) {
                    out.schema_name = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident(key::COLUMN_NAME) {
                    out.column_name = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident(key::ENUM_NAME) {
                    out.enum_name = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident(key::PRIMARY_KEY) {
                    out.primary_key = true;
                    skip_value(&meta);
                } else if meta.path.is_ident(key::IGNORE) {
                    out.ignore = true;
                    skip_value(&meta);
                } else {
                    skip_value(&meta);
                }
                Ok(())
            });
        }
        out
    }
}
