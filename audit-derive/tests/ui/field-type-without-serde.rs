use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

/// A column type with no serde impls.
#[derive(Clone, Debug, PartialEq, Eq, DeriveValueType)]
pub struct Isbn(pub String);

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "books")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub title: String,
    pub isbn: Isbn,
    // Neither a redacted nor a skipped field needs serde: their values are never stored.
    #[audit(redact)]
    pub old_isbn: Isbn,
    #[audit(skip)]
    pub draft_isbn: Isbn,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
