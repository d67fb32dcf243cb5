//! Fields serde hides, each with its audit mode said; columns SeaORM names without their
//! extra underscores.
use audit_seaorm::{Audited, FieldMode};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited, Serialize, Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    // The key is the subject id whatever serde does.
    #[sea_orm(primary_key)]
    #[serde(skip_serializing)]
    pub id_: i32,
    #[serde(skip_serializing)]
    #[audit(redact)]
    pub password_hash: String,
    #[serde(skip)]
    #[audit(skip)]
    pub session: String,
    #[serde(skip_serializing)]
    #[audit(log)]
    pub internal_note: String,
    pub type_: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {
    let fields: Vec<_> = Model::FIELDS.iter().map(|f| (f.name, f.column, f.mode)).collect();
    assert_eq!(fields[0], ("id_", "id", FieldMode::Audited));
    assert_eq!(fields[1], ("password_hash", "password_hash", FieldMode::Redacted));
    assert_eq!(fields[2], ("session", "session", FieldMode::Skipped));
    assert_eq!(fields[3], ("internal_note", "internal_note", FieldMode::Audited));
    assert_eq!(fields[4], ("type_", "type", FieldMode::Audited));
}
