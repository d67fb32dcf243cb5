//! The SeaORM 2.0 `#[sea_orm::model]` format: the derive list is copied onto `ModelEx`.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "cakes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    #[audit(redact)]
    pub recipe: String,
}
