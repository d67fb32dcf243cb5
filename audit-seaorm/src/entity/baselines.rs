//! The `audit_baselines` table: subject types whose every row has a version.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One row of `audit_baselines`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_baselines")]
pub struct Model {
    /// The subject type.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject_type: String,
    /// When its baseline was complete (UTC).
    pub completed_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
