//! A note on a `dense` row: the other end of its relation, in the dense format too (not
//! audited).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "compat_dense_note")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub dense_id: i32,
    pub body: String,
    #[sea_orm(belongs_to, from = "dense_id", to = "id")]
    pub dense: HasOne<super::dense::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
