//! The dense 2.0 format: `#[sea_orm::model]`, with a relation field that is no column.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "compat_dense")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub title: String,
    pub bakery_id: Option<i32>,
    #[sea_orm(has_many)]
    pub notes: HasMany<super::dense_note::Entity>,
}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
