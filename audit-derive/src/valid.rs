//! Checks that need the whole model.

use crate::ast::Model;
use crate::attr::Errors;

/// The width of the audit tables' `subject_type` columns (`varchar(100)`).
const MAX_SUBJECT_TYPE: usize = 100;

pub fn check(model: &Model<'_>, errors: &mut Errors) {
    // A longer type fails every audited write (or, on MySQL outside strict mode, is cut
    // short and may share a trail with another type).
    if let Some(subject) = model.attrs.subject.get().or(model.table_name.as_ref()) {
        let length = subject.value().chars().count();
        if length > MAX_SUBJECT_TYPE {
            let what = if model.attrs.subject.get().is_some() {
                "audit attribute `subject`"
            } else {
                "the subject type (the table name, with its schema)"
            };
            errors.error(
                subject.span(),
                format!(
                    "{what} is {length} characters long; the audit tables hold at most \
                     {MAX_SUBJECT_TYPE}: set a shorter `#[audit(subject = \"...\")]`"
                ),
            );
        }
    }
    // MySQL/MariaDB compare text with trailing spaces ignored (another type's trail), and
    // PostgreSQL's text cannot hold a NUL: every audited write would fail on one of them.
    if let Some(subject) = model.attrs.subject.get() {
        let value = subject.value();
        // (an empty one is refused as such)
        let padded = value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace);
        if !value.trim().is_empty() && (padded || value.chars().any(char::is_control)) {
            errors.error(
                subject.span(),
                "audit attribute `subject` must not start or end with whitespace or hold \
                 control characters: MySQL/MariaDB compare it with trailing spaces ignored, \
                 and PostgreSQL cannot store a NUL, so every audited write would fail on one \
                 of them",
            );
        }
    }
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
        check_serde_hidden(field, errors);
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
        if field.sea_orm.ignore
            && (field.attrs.skip.is_set()
                || field.attrs.redact.is_set()
                || field.attrs.log.is_set())
        {
            let span = field
                .attrs
                .skip
                .span()
                .or(field.attrs.redact.span())
                .or(field.attrs.log.span())
                .unwrap_or(field.span());
            errors.error(
                span,
                "audit attributes have no effect on a `#[sea_orm(ignore)]` field: it is not a column",
            );
        }
    }
}

/// A field serde hides (`#[serde(skip)]`, `#[serde(skip_serializing)]`: a password hash,
/// a token) or writes its own way (`#[serde(with)]`, `#[serde(serialize_with)]`: a mask)
/// is still logged, with its type's own serde, since the trail serializes each field
/// itself: its audit mode must be said. Key fields are the subject id whatever serde does;
/// an ignored field is no column (its audit attributes are reported as such).
fn check_serde_hidden(field: &crate::ast::ModelField<'_>, errors: &mut Errors) {
    let attrs = &field.attrs;
    if field.sea_orm.ignore {
        return;
    }
    if let Some(span) = attrs.log.span() {
        if attrs.serde_hidden.is_none() {
            errors.error(
                span,
                "audit attribute `log` is for a field serde hides or writes its own way \
                 (`#[serde(skip)]`, `skip_serializing`, `with`, `serialize_with`); every other \
                 field is logged anyway",
            );
        } else if attrs.skip.is_set() || attrs.redact.is_set() {
            errors.error(
                span,
                "audit attribute `log` excludes `skip` and `redact`: it logs the field's value",
            );
        }
    }
    let Some((span, key)) = &attrs.serde_hidden else {
        return;
    };
    if field.sea_orm.primary_key {
        return;
    }
    if !(attrs.skip.is_set() || attrs.redact.is_set() || attrs.log.is_set()) {
        let what = match key.as_str() {
            "skip" | "skip_serializing" => "hides `{name}` from serde",
            _ => "has serde write `{name}` its own way",
        }
        .replace("{name}", field.name().as_str());
        errors.error(
            *span,
            format!(
                "`#[serde({key})]` {what}, but the audit trail serializes each field itself, \
                 with its type's own serde, and would store its value: add \
                 `#[audit(redact)]` (its changes are logged, its value never), \
                 `#[audit(skip)]` (not logged at all) or `#[audit(log)]` (logged as it is)"
            ),
        );
    }
}
