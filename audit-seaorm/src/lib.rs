#![doc = include_str!("../../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
mod backfill;
mod bulk;
mod chain;
mod dialect;
pub mod entity;
mod error;
mod history;
pub mod hooks;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
mod partition;
mod prune;
mod redact;
mod registry;
mod restore;
mod revert;
mod rollup;
mod schema;
mod trail;
mod transaction;
mod user_hooks;
mod write;

use sea_orm::{EntityTrait, ModelTrait};
use serde_json::{Map, Value};

pub use api::{
    NewActivity, activity, activity_select, history, log, log_change, record_change, snapshot,
    version, versions, versions_page,
};
pub use audit_core::{
    Action, ActivityEntry, AuditContext, Audited, Change, Changes, DEFAULT_LIMIT, Field, FieldMode,
    Filter, MAX_LIMIT, Order, Page, REDACTED, SubjectId, Version, page_limit, propagate, spawn,
    without_auditing,
};
/// The model-level errors ([`Error::Model`] holds one): a snapshot that no longer fits the
/// model, a value that does not serialize.
pub use audit_core::{Error as ModelError, Result as ModelResult};
/// `#[derive(Audited)]`: see the crate documentation for its attributes.
pub use audit_derive::Audited;
/// `#[audit_seaorm::behavior]`: keeps an entity's own `ActiveModelBehavior` next to
/// `#[derive(Audited)]`.
pub use audit_derive::behavior;
pub use backfill::{Backfill, backfill};
pub use bulk::{AuditedBulk, BulkWrite, DeleteManyAudited, InsertManyAudited, UpdateManyAudited};
pub use chain::checkpoint::{
    Checkpoint, CheckpointCheck, checkpoint, checkpoints, verify_checkpoint,
};
pub use chain::erase::{Erased, erase};
pub use chain::seal::{SEAL_GRACE, SEAL_SWEEP, SEALED_LATE, Sealed, seal, seal_all, seal_late};
pub use chain::verify::{Break, BreakReason, Cursor, Report, VerifyScope, verify};
/// The Ed25519 implementation [`checkpoint`] signs with (its `SigningKey` and
/// `VerifyingKey`).
pub use ed25519_dalek;
pub use error::{Error, Result};
pub use history::{Blame, KeyOf, RecordsPage, diff_versions};
pub use partition::{MONTHS_AHEAD, maintain_partitions};
pub use prune::{Policy, Pruned, Retention, prune};
pub use redact::{REDACTED_ACTION, Redacted, redact_history};
pub use restore::AuditedEntity;
pub use revert::{Conflict, KeptField, Reverted, Reverter, Subject};
pub use rollup::{ActivityCounts, GRACE, activity_counts, recount_activity};
#[cfg(feature = "migration")]
pub use schema::migration;
pub use schema::{Install, install, install_sql, install_sql_with, install_with};
pub use transaction::begin_write;

/// The ActiveModel of a model's entity.
type ActiveModelOf<M> = <<M as ModelTrait>::Entity as EntityTrait>::ActiveModel;

/// The SeaORM side of an audited model, implemented by `#[derive(Audited)]`.
pub trait AuditedModel: Audited + ModelTrait {
    /// The audited and redacted fields `Set` in the ActiveModel, by field name: what an
    /// update writes (matched by field, so a column renamed only on `enum Column` counts).
    fn set_fields(active: &ActiveModelOf<Self>) -> Vec<&'static str>;

    /// The subject id of the row `active` points at, from its key fields as
    /// [`Audited::subject_id`] spells it for the row's model; `None` when a key field is
    /// not set. (The default, for implementations not written by the derive: `None`.)
    fn subject_id_of_active(
        active: &ActiveModelOf<Self>,
    ) -> Option<audit_core::Result<audit_core::SubjectId>> {
        let _ = active;
        None
    }

    /// The primary key values stored in a snapshot, in primary key order.
    fn key_from_snapshot(data: &Map<String, Value>) -> audit_core::Result<Vec<sea_orm::Value>>;

    /// The ActiveModel that turns `current` into `target`: every audited, non-key field
    /// `Set` to the target's value, everything else left unchanged.
    fn restore_active_model(current: Self, target: &Self) -> ActiveModelOf<Self>;
}

/// Paths the code `#[derive(Audited)]` and `#[audit_seaorm::behavior]` generate names.
/// Not public API: re-exports only.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::Registration;
    pub use crate::user_hooks::{NoUserHooks, UserHooks, Wired, no_user_hooks};
    pub use crate::{AuditedModel, hooks};
    pub use async_trait::async_trait;
    pub use audit_core::__private::*;
    pub use audit_core::{Audited, Changes, Field, FieldMode, Result as CoreResult, SubjectId};
    pub use inventory;
    pub use sea_orm;
    pub use sea_orm::ActiveValue;
    /// A JSON object.
    pub type JsonMap = serde_json::Map<String, serde_json::Value>;
}
