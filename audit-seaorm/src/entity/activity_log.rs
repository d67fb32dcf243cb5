//! The `activity_log` table: one row per logged action.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One row of `activity_log`. See [`crate::ActivityEntry`] for the typed view.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "activity_log")]
pub struct Model {
    /// Row id (increasing).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What happened: created, updated, deleted, restored or a custom word.
    pub action: String,
    /// The subject's type.
    pub subject_type: String,
    /// The subject's id as text.
    pub subject_id: String,
    /// Who caused it.
    pub causer_id: Option<String>,
    /// `{field: {old, new}}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub changes: Json,
    /// Free properties.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub properties: Option<Json>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client User-Agent.
    #[sea_orm(column_type = "Text", nullable)]
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// The version written with this entry.
    pub version_id: Option<i64>,
    /// When (UTC).
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
