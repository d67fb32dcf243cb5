//! A composite key of a string enum (whose serde name is not its stored value) and a date:
//! rows deleted by key (`ActiveModel { key…, ..Default::default() }.delete(db)`).

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum Gauge {
    #[sea_orm(string_value = "t")]
    Temperature,
    #[sea_orm(string_value = "h")]
    Humidity,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "compat_readings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub gauge: Gauge,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    pub value: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
