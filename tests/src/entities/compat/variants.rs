//! Fields whose `enum Column` variants SeaORM names otherwise (`enum_name`): their columns
//! are named after the variant (`id` is the column `code`, `name` the column `label`); the
//! trail keeps the Rust names, the writes find the columns.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
#[sea_orm(table_name = "compat_variants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, enum_name = "Code")]
    pub id: i32,
    #[sea_orm(enum_name = "Label")]
    pub name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
