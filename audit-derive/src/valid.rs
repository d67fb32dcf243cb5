//! Checks that need the whole model.

use crate::ast::Model;
use crate::attr::Errors;

pub fn check(model: &Model<'_>, errors: &mut Errors) {
    if model.attrs.subject.get().is_none() && model.table_name.is_none() {
        errors.error(
            model.ident.span(),
            "audited model has no `#[sea_orm(table_name = \"...\")]`: add `#[audit(subject = \"...\")]`, \
             the subject type written to the log (an entity that names its table in \
             `impl EntityName` must name a subject here)",
        );
    }
    if !model.fields.iter().any(|f| f.sea_orm.primary_key) {
        errors.error(
            model.ident.span(),
            "audited model has no `#[sea_orm(primary_key)]` field: the subject id comes from the primary key; \
             put `#[sea_orm(primary_key)]` on each key field, in the order of `enum PrimaryKey` \
             (`DeriveModel` ignores it, so an entity in the expanded format can carry it too)",
        );
    }
    for field in &model.fields {
        if let (Some(_), Some(span)) = (field.attrs.skip.get(), field.attrs.redact.span()) {
            errors.error(
                span,
                "audit attributes `skip` and `redact` exclude each other: a skipped field is not logged at all",
            );
        }
        if field.sea_orm.primary_key {
            if let Some(span) = field.attrs.redact.span() {
                errors.error(
                    span,
                    "audit attribute `redact` cannot be used on a primary key field",
                );
            }
            if let Some(span) = field.attrs.skip.span() {
                errors.error(
                    span,
                    "audit attribute `skip` cannot be used on a primary key field",
                );
            }
        }
        if field.sea_orm.ignore && (field.attrs.skip.is_set() || field.attrs.redact.is_set()) {
            let span = field
                .attrs
                .skip
                .span()
                .or(field.attrs.redact.span())
                .unwrap_or(field.span());
            errors.error(
                span,
                "audit attributes have no effect on a `#[sea_orm(ignore)]` field: it is not a column",
            );
        }
    }
}
