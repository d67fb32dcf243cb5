//! The `activity_log_hourly` table: how many entries each hour holds, per subject type and
//! action, behind the dashboard's counts. Its name is
//! [`table_names`](super::table_names)`().hourly`.
//!
//! An hour is counted once it is over (with a margin for late commits); each counted hour
//! also has a row with the subject type `"\u{1}"` and the action `""`, whose `n` is its
//! total. [`prune`](crate::prune) removes the counts of the hours it deleted from, which
//! are counted again on the next read.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The table.
#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        &super::table_names().hourly
    }
}

/// One row: the entries of one subject type and action in one hour.
#[derive(Clone, Debug, PartialEq, DeriveModel, DeriveActiveModel, Serialize, Deserialize)]
pub struct Model {
    /// The hour's start (UTC).
    pub hour: DateTimeUtc,
    /// The subject type (`"\u{1}"`: the hour's total, which marks it counted).
    pub subject_type: String,
    /// The action.
    pub action: String,
    /// How many entries.
    pub n: i64,
}

/// The columns.
#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
#[allow(missing_docs)]
pub enum Column {
    Hour,
    SubjectType,
    Action,
    N,
}

/// The primary key: `(hour, subject_type, action)`.
#[derive(Copy, Clone, Debug, EnumIter, DerivePrimaryKey)]
#[allow(missing_docs)]
pub enum PrimaryKey {
    Hour,
    SubjectType,
    Action,
}

impl PrimaryKeyTrait for PrimaryKey {
    type ValueType = (DateTimeUtc, String, String);

    fn auto_increment() -> bool {
        false
    }
}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        match self {
            Self::Hour => ColumnType::TimestampWithTimeZone.def(),
            Self::SubjectType | Self::Action => ColumnType::String(StringLen::None).def(),
            Self::N => ColumnType::BigInteger.def(),
        }
    }
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter)]
pub enum Relation {}

impl RelationTrait for Relation {
    fn def(&self) -> RelationDef {
        match *self {}
    }
}

impl ActiveModelBehavior for ActiveModel {}
