//! Fields whose columns SeaORM names without their extra underscores (`id_` is the column
//! `id`, `type_` the column `type`, `_note` the column `note`): the trail keeps the Rust
//! names, the writes find the columns.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
#[sea_orm(table_name = "compat_underscored")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id_: i32,
    pub type_: String,
    pub _note: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
