//! The `versions` table: full JSON snapshots, numbered per subject.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One row of `versions`. See [`crate::Version`] for the typed view.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "versions")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
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
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    /// Who caused it.
    pub causer_id: Option<String>,
    /// When (UTC).
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
