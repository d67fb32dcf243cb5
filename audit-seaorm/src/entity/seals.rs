//! The `{activity_log}_seals` table: the hash chain links. Each sealed row of
//! `activity_log` or `versions` has one seal: its place in its subject's chain and the
//! hash over its content and the link before it. See [`crate::seal`].

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The table.
#[derive(Copy, Clone, Default, Debug, DeriveEntity)]
pub struct Entity;

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        &super::table_names().seals
    }
}

/// One link.
#[derive(Clone, Debug, PartialEq, DeriveModel, DeriveActiveModel, Serialize, Deserialize)]
pub struct Model {
    /// Which table the sealed row is in: 1 `activity_log`, 2 `versions`.
    pub kind: i16,
    /// The chain's subject type.
    pub subject_type: String,
    /// The chain's subject id.
    pub subject_id: String,
    /// The link's place in the chain: 1, 2, 3 …
    pub seq: i64,
    /// The sealed row's id.
    pub row_id: i64,
    /// SHA-256 (hex) over the previous link's hash, the row's id (format 2) and the row's
    /// content.
    pub hash: String,
    /// The seal run that made the link.
    pub run: i64,
    /// The row's secret (hex) from which its fields' salts derive; `None` once a field
    /// of the row was erased.
    pub salt: Option<String>,
    /// After an erasure: `{"kept": {field: salt}, "erased": {field: commitment}}`.
    pub erased: Option<Json>,
    /// What the hash covers: 2 (links sealed since this column exists) the row's id with
    /// its content; 1 (links sealed before) its content alone.
    pub format: i16,
}

/// The columns.
#[derive(Copy, Clone, Debug, EnumIter, DeriveColumn)]
#[allow(missing_docs)]
pub enum Column {
    Kind,
    SubjectType,
    SubjectId,
    Seq,
    RowId,
    Hash,
    Run,
    Salt,
    Erased,
    Format,
}

/// The primary key: `(kind, subject_type, subject_id, seq)`.
#[derive(Copy, Clone, Debug, EnumIter, DerivePrimaryKey)]
#[allow(missing_docs)]
pub enum PrimaryKey {
    Kind,
    SubjectType,
    SubjectId,
    Seq,
}

impl PrimaryKeyTrait for PrimaryKey {
    type ValueType = (i16, String, String, i64);

    fn auto_increment() -> bool {
        false
    }
}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        match self {
            Self::Kind | Self::Format => ColumnType::SmallInteger.def(),
            Self::SubjectType | Self::SubjectId | Self::Hash => {
                ColumnType::String(StringLen::None).def()
            }
            Self::Seq | Self::RowId | Self::Run => ColumnType::BigInteger.def(),
            Self::Salt => ColumnType::String(StringLen::None).def().null(),
            Self::Erased => ColumnType::JsonBinary.def().null(),
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
