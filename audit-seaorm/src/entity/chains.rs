//! The `{activity_log}_chains` table: each chain's head (its latest link) and anchor (the
//! link its oldest kept row follows, once [`prune`](crate::prune) removed the rows before
//! it). See [`crate::seal`].

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The table.
#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        &super::table_names().chains
    }
}

/// One chain: the rows of one table about one subject.
#[derive(Clone, Debug, PartialEq, DeriveModel, DeriveActiveModel, Serialize, Deserialize)]
pub struct Model {
    /// Which table: 1 `activity_log`, 2 `versions`.
    pub kind: i16,
    /// The subject type.
    pub subject_type: String,
    /// The subject id.
    pub subject_id: String,
    /// The latest link's place.
    pub head_seq: i64,
    /// The latest link's hash.
    pub head_hash: String,
    /// The seal run that made the latest link.
    pub head_run: i64,
    /// The place of the last link whose row was pruned (0: nothing pruned).
    pub anchor_seq: i64,
    /// That link's hash (`None`: nothing pruned; the chain starts from the genesis hash).
    pub anchor_hash: Option<String>,
    /// The seal run that made that link (0: nothing pruned).
    pub anchor_run: i64,
}

/// The columns.
#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
#[allow(missing_docs)]
pub enum Column {
    Kind,
    SubjectType,
    SubjectId,
    HeadSeq,
    HeadHash,
    HeadRun,
    AnchorSeq,
    AnchorHash,
    AnchorRun,
}

/// The primary key: `(kind, subject_type, subject_id)`.
#[derive(Copy, Clone, Debug, EnumIter, DerivePrimaryKey)]
#[allow(missing_docs)]
pub enum PrimaryKey {
    Kind,
    SubjectType,
    SubjectId,
}

impl PrimaryKeyTrait for PrimaryKey {
    type ValueType = (i16, String, String);

    fn auto_increment() -> bool {
        false
    }
}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        match self {
            Self::Kind => ColumnType::SmallInteger.def(),
            Self::SubjectType | Self::SubjectId | Self::HeadHash => {
                ColumnType::String(StringLen::None).def()
            }
            Self::AnchorHash => ColumnType::String(StringLen::None).def().null(),
            Self::HeadSeq | Self::HeadRun | Self::AnchorSeq | Self::AnchorRun => {
                ColumnType::BigInteger.def()
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
