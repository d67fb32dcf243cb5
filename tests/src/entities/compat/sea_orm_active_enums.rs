//! Enums as sea-orm-cli writes them (`sea_orm_active_enums.rs`, with `--with-serde both`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Shelf {
    #[sea_orm(string_value = "dry")]
    Dry,
    #[sea_orm(string_value = "fridge")]
    Fridge,
    #[sea_orm(string_value = "freezer")]
    Freezer,
}

/// A primary key. A string value in a bounded `VARCHAR`, so MySQL can index it.
#[derive(Debug, Clone, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Flavor {
    #[sea_orm(string_value = "vanilla")]
    Vanilla,
    #[sea_orm(string_value = "chocolate")]
    Chocolate,
}

/// A primary key of a native enum type (`compat_mood_kind` on PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "compat_mood_kind")]
pub enum Mood {
    #[sea_orm(string_value = "calm")]
    Calm,
    #[sea_orm(string_value = "busy")]
    Busy,
}
