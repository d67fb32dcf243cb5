use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

// A field's key with a value, on the struct: one error, and the keys after it still read
// (no "no table name" error for want of `subject`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "posts")]
#[audit(redact(x), subject = "post")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub title: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
