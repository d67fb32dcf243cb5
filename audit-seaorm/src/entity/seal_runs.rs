//! The `{activity_log}_seal_runs` table: one row per committed step of [`crate::seal`],
//! and the signed checkpoints ([`crate::checkpoint`]).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The table.
#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        &super::table_names().seal_runs
    }
}

/// One seal run (or checkpoint).
#[derive(Clone, Debug, PartialEq, DeriveModel, DeriveActiveModel, Serialize, Deserialize)]
pub struct Model {
    /// The run's number: 1, 2, 3 …
    pub run: i64,
    /// When it committed (UTC).
    pub sealed_at: DateTimeUtc,
    /// How many rows it sealed.
    pub rows: i64,
    /// The highest `activity_log` id sealed by this run or an earlier one.
    pub log_max_id: i64,
    /// The highest `versions` id sealed by this run or an earlier one.
    pub versions_max_id: i64,
    /// Whether the run swept (looked behind the last run, see [`crate::SEAL_SWEEP`]) and
    /// found nothing more to seal: it caught up with the writers.
    pub complete: bool,
    /// A checkpoint's chain count (`None`: a plain run).
    pub chains: Option<i64>,
    /// A checkpoint's Merkle root over the chain heads (hex).
    pub root: Option<String>,
    /// A checkpoint's Ed25519 public key (hex).
    pub public_key: Option<String>,
    /// A checkpoint's signature (hex).
    pub signature: Option<String>,
}

/// The columns.
#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
#[allow(missing_docs)]
pub enum Column {
    Run,
    SealedAt,
    Rows,
    LogMaxId,
    VersionsMaxId,
    Complete,
    Chains,
    Root,
    PublicKey,
    Signature,
}

/// The primary key: `run`.
#[derive(Copy, Clone, Debug, EnumIter, DerivePrimaryKey)]
#[allow(missing_docs)]
pub enum PrimaryKey {
    Run,
}

impl PrimaryKeyTrait for PrimaryKey {
    type ValueType = i64;

    fn auto_increment() -> bool {
        false
    }
}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        match self {
            Self::Run | Self::Rows | Self::LogMaxId | Self::VersionsMaxId => {
                ColumnType::BigInteger.def()
            }
            Self::SealedAt => ColumnType::TimestampWithTimeZone.def(),
            Self::Complete => ColumnType::Boolean.def(),
            Self::Chains => ColumnType::BigInteger.def().null(),
            Self::Root | Self::PublicKey | Self::Signature => {
                ColumnType::String(StringLen::None).def().null()
            }
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
