//! The `versions` table: full JSON snapshots, numbered per subject. Its name is
//! [`table_names`](super::table_names)`().versions`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The table.
#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        &super::table_names().versions
    }
}

/// One row of `versions`. See [`crate::Version`] for the typed view.
#[derive(Clone, Debug, PartialEq, DeriveModel, DeriveActiveModel, Serialize, Deserialize)]
pub struct Model {
    /// Row id.
    pub id: i64,
    /// The subject's type.
    pub subject_type: String,
    /// The subject's id as text.
    pub subject_id: String,
    /// Per-subject counter: 1, 2, 3 …
    pub version: i64,
    /// What produced it: created, updated, deleted, restored, snapshot, …
    pub event: String,
    /// The audited fields.
    pub data: Json,
    /// Who caused it.
    pub causer_id: Option<String>,
    /// When (UTC).
    pub created_at: DateTimeUtc,
}

/// The columns.
#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
#[allow(missing_docs)]
pub enum Column {
    Id,
    SubjectType,
    SubjectId,
    Version,
    Event,
    Data,
    CauserId,
    CreatedAt,
}

/// The primary key: `id`.
#[derive(Copy, Clone, Debug, EnumIter, DerivePrimaryKey)]
#[allow(missing_docs)]
pub enum PrimaryKey {
    Id,
}

impl PrimaryKeyTrait for PrimaryKey {
    type ValueType = i64;

    fn auto_increment() -> bool {
        true
    }
}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        match self {
            Self::Id | Self::Version => ColumnType::BigInteger.def(),
            Self::SubjectType | Self::SubjectId | Self::Event => {
                ColumnType::String(StringLen::None).def()
            }
            Self::CauserId => ColumnType::String(StringLen::None).def().null(),
            Self::Data => ColumnType::JsonBinary.def(),
            Self::CreatedAt => ColumnType::TimestampWithTimeZone.def(),
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
