//! The `activity_log` table: one row per logged action. Its name is
//! [`table_names`](super::table_names)`().activity_log`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The table.
#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        &super::table_names().activity_log
    }
}

/// One row of `activity_log`. See [`crate::ActivityEntry`] for the typed view.
#[derive(Clone, Debug, PartialEq, DeriveModel, DeriveActiveModel, Serialize, Deserialize)]
pub struct Model {
    /// Row id (increasing).
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
    pub changes: Json,
    /// Free properties.
    pub properties: Option<Json>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client User-Agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// The version written with this entry.
    pub version_id: Option<i64>,
    /// When (UTC).
    pub created_at: DateTimeUtc,
}

/// The columns.
#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
#[allow(missing_docs)]
pub enum Column {
    Id,
    Action,
    SubjectType,
    SubjectId,
    CauserId,
    Changes,
    Properties,
    Ip,
    UserAgent,
    RequestId,
    VersionId,
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
            Self::Id | Self::VersionId => ColumnType::BigInteger.def(),
            Self::Action | Self::SubjectType | Self::SubjectId => {
                ColumnType::String(StringLen::None).def()
            }
            Self::CauserId | Self::Ip | Self::RequestId => {
                ColumnType::String(StringLen::None).def().null()
            }
            Self::UserAgent => ColumnType::Text.def().null(),
            Self::Changes => ColumnType::JsonBinary.def(),
            Self::Properties => ColumnType::JsonBinary.def().null(),
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
