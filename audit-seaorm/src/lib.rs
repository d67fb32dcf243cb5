#![doc = include_str!("../../README.md")]

mod api;
mod backfill;
mod dialect;
pub mod entity;
mod error;
pub mod hooks;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
mod restore;
mod schema;
mod trail;
mod write;

use sea_orm::{EntityTrait, ModelTrait};
use serde_json::{Map, Value};

pub use api::{
    NewActivity, activity, activity_select, entry_from_row, history, log, log_change,
    record_change, restore, snapshot, version, version_from_row, versions, versions_page,
};
pub use audit_core::{
    Action, ActivityEntry, AuditContext, Audited, Change, Changes, DEFAULT_LIMIT, Field, FieldMode,
    Filter, MAX_LIMIT, Order, Page, REDACTED, Version, page_limit, propagate, spawn,
    without_auditing,
};
/// `#[derive(Audited)]`: see the crate documentation for its attributes.
pub use audit_derive::Audited;
/// `#[audit_seaorm::behavior]`: keeps an entity's own `ActiveModelBehavior` next to
/// `#[derive(Audited)]`.
pub use audit_derive::behavior;
pub use backfill::{BACKFILL_BATCH, Backfill, backfill};
pub use error::{Error, Result};
pub use hooks::{set_strict_mode, strict_mode};
pub use restore::{AuditedEntity, restore_model};
#[cfg(feature = "migration")]
pub use schema::migration;
pub use schema::{install, install_sql};

/// The ActiveModel of a model's entity.
pub type ActiveModelOf<M> = <<M as ModelTrait>::Entity as EntityTrait>::ActiveModel;

/// The SeaORM side of an audited model, implemented by `#[derive(Audited)]`.
pub trait AuditedModel: Audited + ModelTrait {
    /// The audited and redacted fields `Set` in the ActiveModel, by field name: what an
    /// update writes (matched by field, so a column renamed only on `enum Column` counts).
    fn set_fields(active: &ActiveModelOf<Self>) -> Vec<&'static str>;

    /// The primary key values stored in a snapshot, in primary key order.
    fn key_from_snapshot(data: &Map<String, Value>) -> audit_core::Result<Vec<sea_orm::Value>>;

    /// The ActiveModel that turns `current` into `target`: every audited, non-key field
    /// `Set` to the target's value, everything else left unchanged.
    fn restore_active_model(current: Self, target: &Self) -> ActiveModelOf<Self>;
}

/// Runtime items the generated code names. Not public API.
#[doc(hidden)]
pub mod __private {
    mod user_hooks;

    pub use crate::AuditedModel;
    pub use async_trait::async_trait;
    pub use audit_core::__private::*;
    pub use audit_core::{Audited, Changes, Field, FieldMode, Result as CoreResult};
    pub use sea_orm;
    pub use sea_orm::ActiveValue;
    pub use user_hooks::{NoUserHooks, UserHooks, Wired, no_user_hooks};
    /// A JSON object.
    pub type JsonMap = serde_json::Map<String, serde_json::Value>;

    /// The error for a primary key missing from a snapshot.
    pub fn missing_key(subject_type: &'static str, field: &'static str) -> audit_core::Error {
        audit_core::Error::SnapshotMismatch {
            subject_type,
            field: field.to_owned(),
            reason: "is part of the primary key but missing from the snapshot".to_owned(),
        }
    }
}
