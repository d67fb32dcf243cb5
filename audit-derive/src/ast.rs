//! The derive's input, parsed: the model struct and its fields.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type};

use crate::attr::{Errors, FieldAttrs, SeaOrmAttrs, StructAttrs};

/// The parsed model.
pub struct Model<'a> {
    pub ident: &'a Ident,
    pub attrs: StructAttrs,
    /// `#[sea_orm(table_name)]`, as `schema.table` when `#[sea_orm(schema_name)]` is given.
    pub table_name: Option<LitStr>,
    pub fields: Vec<ModelField<'a>>,
}

/// One parsed field.
pub struct ModelField<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
    pub sea_orm: SeaOrmAttrs,
}

impl ModelField<'_> {
    /// The key in diffs and snapshots: the field name without `r#`.
    pub fn name(&self) -> String {
        let s = self.ident.to_string();
        s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
    }

    /// The database column name, as SeaORM's `DeriveEntityModel` names it: the field's
    /// `column_name`, else the field name in snake case when that differs from it (a
    /// leading, trailing or doubled underscore goes: `type_` is the column `type`), else
    /// the `enum_name` variant's in snake case, else the field name.
    pub fn column(&self) -> String {
        use heck::{ToSnakeCase, ToUpperCamelCase};
        match &self.sea_orm.column_name {
            Some(lit) => lit.value(),
            None => {
                let name = self.name();
                if name != name.to_upper_camel_case().to_snake_case() {
                    name.to_snake_case()
                } else if let Some(variant) = &self.sea_orm.enum_name {
                    // (no column name of its own: SeaORM names it after the variant)
                    variant.value().to_snake_case()
                } else {
                    name
                }
            }
        }
    }

    pub fn span(&self) -> Span {
        self.ident.span()
    }
}

impl<'a> Model<'a> {
    /// Parses the input, collecting every attribute error.
    pub fn from_input(input: &'a DeriveInput, errors: &mut Errors) -> Option<Self> {
        let attrs = StructAttrs::parse(&input.attrs, errors);
        // The default subject type: the table name, qualified by its schema when the
        // entity names one (two schemas may hold tables of one name).
        let sea_orm = SeaOrmAttrs::parse(&input.attrs);
        let table_name = match (sea_orm.schema_name, sea_orm.table_name) {
            (Some(schema), Some(table)) => Some(LitStr::new(
                &format!("{}.{}", schema.value(), table.value()),
                table.span(),
            )),
            (_, table) => table,
        };
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                other => {
                    // A unit struct's fields have no tokens: point at the struct's name.
                    let span = match other {
                        Fields::Unit => input.ident.span(),
                        _ => other.span(),
                    };
                    errors.error(
                        span,
                        "`#[derive(Audited)]` needs a struct with named fields (a SeaORM `Model`)",
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                errors.error(
                    data.enum_token.span,
                    "`#[derive(Audited)]` needs a struct with named fields (a SeaORM `Model`), not an enum",
                );
                return None;
            }
            Data::Union(data) => {
                errors.error(
                    data.union_token.span,
                    "`#[derive(Audited)]` needs a struct with named fields (a SeaORM `Model`), not a union",
                );
                return None;
            }
        };
        let fields = named
            .named
            .iter()
            .map(|f| ModelField {
                ident: f.ident.as_ref().expect("named field"),
                ty: &f.ty,
                attrs: FieldAttrs::parse(&f.attrs, errors),
                sea_orm: SeaOrmAttrs::parse(&f.attrs),
            })
            .collect();
        Some(Model {
            ident: &input.ident,
            attrs,
            table_name,
            fields,
        })
    }
}
