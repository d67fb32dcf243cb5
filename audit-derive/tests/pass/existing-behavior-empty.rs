//! An entity as sea-orm-cli generates it, with `#[derive(Audited)]` added and
//! `#[audit_seaorm::behavior]` on its empty `impl ActiveModelBehavior`.
#![deny(warnings)]
use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "posts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub title: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}

fn main() {
    assert_eq!(<Model as Audited>::SUBJECT_TYPE, "posts");
    let active = ActiveModel::new();
    assert!(active.id.is_not_set() && active.title.is_not_set());
}
