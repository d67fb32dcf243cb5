//! One column of every type the value-fidelity tests cover.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Status {
    #[sea_orm(string_value = "draft")]
    Draft,
    #[sea_orm(string_value = "live")]
    Live,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "samples")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub small: i32,
    pub big: i64,
    pub text: String,
    pub flag: bool,
    pub ratio: f64,
    pub maybe: Option<String>,
    pub at: DateTimeUtc,
    pub day: Date,
    #[sea_orm(column_type = "Decimal(Some((20, 6)))")]
    pub amount: Decimal,
    pub blob: Vec<u8>,
    #[sea_orm(column_type = "JsonBinary")]
    pub doc: Json,
    pub status: Status,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}
