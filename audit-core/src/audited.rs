//! The [`Audited`] trait that `#[derive(Audited)]` implements.

use serde_json::{Map, Value};

use crate::{Changes, Result, SubjectId};

/// How a field takes part in auditing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldMode {
    /// Diffed, snapshotted and restored.
    Audited,
    /// A change is recorded, the value never is (`"[redacted]"` in diffs, absent from
    /// snapshots); a restore leaves it as it is.
    Redacted,
    /// Neither logged nor restored (`#[audit(skip)]`).
    Skipped,
    /// Not a column (`#[sea_orm(ignore)]`): invisible to auditing.
    Ignored,
}

/// Static description of one field of an audited model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The Rust field name: the key in diffs and snapshots.
    pub name: &'static str,
    /// The database column name as SeaORM's `DeriveEntityModel` names it from the field:
    /// its `#[sea_orm(column_name)]`, else the field name in snake case (`type_` is the
    /// column `type`). A column renamed for the whole struct (`rename_all`) or in an
    /// expanded entity's `Column` is not seen here: the library looks a field's column up
    /// with the entity's `Column::from_str`, of this name first, then of the field name.
    pub column: &'static str,
    /// How the field is audited.
    pub mode: FieldMode,
    /// Whether the field is part of the primary key.
    pub primary_key: bool,
}

/// A model whose changes are logged and versioned. Implemented by `#[derive(Audited)]`;
/// hand-written implementations are possible but rarely useful.
///
/// Field values go to JSON through their `serde::Serialize` implementation and come back
/// through `serde::Deserialize`, so every audited field type implements both.
pub trait Audited: Sized + Send + Sync + 'static {
    /// The subject type written to the log (`#[audit(subject = "...")]`, default: the
    /// table name).
    const SUBJECT_TYPE: &'static str;

    /// Every field of the model, in declaration order.
    const FIELDS: &'static [Field];

    /// The subject id: the primary key's value, or the values of a composite key, in the
    /// text form [`SubjectId`] defines. Fails when a key value does not serialize.
    fn subject_id(&self) -> Result<SubjectId>;

    /// The changes from `old` to `new`: an update when both are given, a create when only
    /// `new` is (every audited field `{old: null, new}`), a delete when only `old` is (every
    /// audited field `{old, new: null}`). Fields are compared typed; only changed audited
    /// fields are serialized.
    fn changes(old: Option<&Self>, new: Option<&Self>) -> Result<Changes>;

    /// A JSON object of every audited field (redacted and skipped fields left out).
    fn snapshot(&self) -> Result<Map<String, Value>>;

    /// Builds a model from a snapshot. Fields the snapshot does not hold (redacted, skipped,
    /// ignored, or added since) come from `base` when given, else from `Default` when the
    /// field's type has one, else it is an error. A key that is no field of the model any
    /// more, or a value that no longer deserializes, is an error.
    fn from_snapshot(base: Option<&Self>, data: &Map<String, Value>) -> Result<Self>;
}
