//! An active enum as the primary key (a bounded `VARCHAR` on every backend).

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

pub use super::sea_orm_active_enums::Flavor;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
#[sea_orm(table_name = "compat_flavor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flavor: Flavor,
    pub stock: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
