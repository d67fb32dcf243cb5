//! The 2.0 `#[sea_orm::model]` format: the derive is copied onto `ModelEx` and must not
//! expand there.
use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "cakes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
}

// No `impl ActiveModelBehavior`: the derive provides it.

fn main() {
    assert_eq!(<Model as Audited>::SUBJECT_TYPE, "cakes");
}
