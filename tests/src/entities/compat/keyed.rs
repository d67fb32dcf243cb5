//! A `String` primary key, a raw-identifier field, an ignored field and a renamed column.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
#[sea_orm(table_name = "compat_keyed")]
pub struct Model {
    // Bounded: MySQL cannot index an unbounded text key.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub code: String,
    pub r#type: String,
    #[sea_orm(column_name = "label_text")]
    pub label: String,
    #[sea_orm(ignore)]
    pub cached: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
