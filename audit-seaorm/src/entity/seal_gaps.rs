//! The `{activity_log}_seal_gaps` table: the ranges of ids each run of [`crate::seal`]
//! read through, and the ids in them it left unsealed (not committed yet, or held back),
//! so that a sweep looks at those ids instead of every row behind the last run.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The table.
#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        &super::table_names().seal_gaps
    }
}

/// A range of ids of one audit table that a seal run read through (`gap` false), or ids
/// in such a range that it left unsealed (`gap` true). Rows whose range the runs' floor
/// has passed are deleted by the next sweep.
#[derive(Clone, Debug, PartialEq, DeriveModel, DeriveActiveModel, Serialize, Deserialize)]
pub struct Model {
    /// The table: 1 `activity_log`, 2 `versions` (as in the links' `kind`).
    pub kind: i16,
    /// Whether these are ids the run left unsealed, not the range it read through.
    pub gap: bool,
    /// The range's last id.
    pub last_id: i64,
    /// The run.
    pub run: i64,
    /// The range's first id.
    pub first_id: i64,
}

/// The columns.
#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
#[allow(missing_docs)]
pub enum Column {
    Kind,
    Gap,
    LastId,
    Run,
    FirstId,
}

/// The primary key: `(kind, gap, last_id, run)`.
#[derive(Copy, Clone, Debug, EnumIter, DerivePrimaryKey)]
#[allow(missing_docs)]
pub enum PrimaryKey {
    Kind,
    Gap,
    LastId,
    Run,
}

impl PrimaryKeyTrait for PrimaryKey {
    type ValueType = (i16, bool, i64, i64);

    fn auto_increment() -> bool {
        false
    }
}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        match self {
            Self::Kind => ColumnType::SmallInteger.def(),
            Self::Gap => ColumnType::Boolean.def(),
            Self::LastId | Self::Run | Self::FirstId => ColumnType::BigInteger.def(),
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
