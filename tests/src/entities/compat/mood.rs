//! A native database enum as the primary key: a PostgreSQL `CREATE TYPE … AS ENUM`
//! (compared only with values cast to it), MySQL's `ENUM`, text on SQLite.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;

pub use super::sea_orm_active_enums::Mood;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
#[sea_orm(table_name = "compat_mood")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mood: Mood,
    pub note: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
