//! One field of each type real entities carry: an active enum, a JSON struct, a decimal, a
//! UUID, bytes, an optional string, a UTC timestamp, a `DeriveValueType` newtype and a
//! unix-timestamp wrapper.

use audit_seaorm::Audited;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::sea_orm_active_enums::Shelf;

/// Stored as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Recipe {
    pub steps: Vec<String>,
    pub minutes: u32,
}

/// A newtype column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, DeriveValueType, Serialize, Deserialize)]
pub struct Score(pub i32);

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Audited)]
#[sea_orm(table_name = "compat_pantry")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub shelf: Shelf,
    #[sea_orm(column_type = "JsonBinary")]
    pub recipe: Recipe,
    // The scale is the column's: every backend returns two decimal places.
    #[sea_orm(column_type = "Decimal(Some((10, 2)))")]
    pub price: Decimal,
    pub batch: Uuid,
    pub label: Vec<u8>,
    pub note: Option<String>,
    // MySQL's `TIMESTAMP` (what this column type becomes there) keeps whole seconds; the
    // tests store whole seconds, so all three backends return the value they were given.
    pub stocked_at: DateTimeUtc,
    pub score: Score,
    // SeaORM's unix-timestamp wrapper: an integer column, serde with sea-orm's `serde`.
    pub opened_at: ChronoUnixTimestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audit_seaorm::behavior]
impl ActiveModelBehavior for ActiveModel {}
