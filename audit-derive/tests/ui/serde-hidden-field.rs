use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited, Serialize, Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    // Hidden from the API, not from the trail: an audit mode must be said.
    #[serde(skip_serializing)]
    pub password_hash: String,
    #[serde(rename = "secret", skip)]
    pub token: String,
    // `log` is for fields serde hides.
    #[audit(log)]
    pub name: String,
    #[serde(skip_serializing)]
    #[audit(log, redact)]
    pub pin: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
