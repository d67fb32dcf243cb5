use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize, Serializer};

pub fn mask<S: Serializer>(_: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("***")
}

mod masked {
    pub use super::mask as serialize;
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited, Serialize, Deserialize)]
#[sea_orm(table_name = "keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    // Masked for the API, not for the trail: an audit mode must be said.
    #[serde(serialize_with = "mask")]
    pub api_key: String,
    #[serde(with = "masked")]
    pub secret: String,
    // Said: fine.
    #[serde(serialize_with = "mask")]
    #[audit(redact)]
    pub token: String,
    // `log` on a field that is no column has no effect.
    #[sea_orm(ignore)]
    #[serde(skip)]
    #[audit(log)]
    pub cache: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
