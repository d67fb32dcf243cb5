//! The write path: the subject's latest version is its old state.
//!
//! A hooked write is logged in `after_save` / `after_delete`, once the entity write has
//! succeeded, by diffing the new snapshot against the subject's latest version
//! ([`plan`]). Nothing needs to survive from `before_*` for the write to be logged:
//! [`pending`] only says which fields the write `Set` (so that changes made outside the
//! trail show as drift instead of being blamed on the writer) and, for subject types
//! without a [`baseline`], carries the row as it was before the write.

pub(crate) mod baseline;
pub(crate) mod pending;
pub(crate) mod plan;
pub(crate) mod restoring;

use audit_core::{Action, Audited, Changes};
use sea_orm::{ConnectionTrait, Value};
use serde_json::{Map, Value as Json, json};

use crate::dialect::{self, Attribution, HookedRow, Outcome, RowKey};
use crate::entity::versions;
use crate::write::{ActivityRow, Record, VersionRow};
use crate::{Error, Result};
use plan::{BASELINE, Hooked};

/// What a hook read of the row before its write.
pub(crate) enum Before<'a, M> {
    /// Nothing: the hook did not read it (its type has a baseline, or the read was lost).
    Unread,
    /// The row was not there.
    Absent,
    /// The row.
    Row(&'a M),
}

impl<M> Clone for Before<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Before<'_, M> {}

impl<'a, M> Before<'a, M> {
    fn row(self) -> Option<&'a M> {
        match self {
            Before::Row(row) => Some(row),
            _ => None,
        }
    }
}

/// Logs one hooked write of `M`. When the subject has no version yet, `before` (the row
/// before the write, when the hook read it) becomes its baseline version first; without
/// it the write is still logged, flagged `"baseline": "missing"`, with a warning. A delete
/// passes its row's key as `gone`, and is logged only if that row is gone. `new_key`: a
/// create whose key the database generated, which no trail holds yet. `fresh`: an update's
/// data is the row as a locking read found it (after [`Recorded::NeedsRow`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record<M: Audited, C: ConnectionTrait>(
    db: &C,
    subject_id: &str,
    write: Hooked<'_>,
    properties: Option<Json>,
    before: Before<'_, M>,
    gone: Option<&RowKey>,
    new_key: bool,
    fresh: bool,
) -> Result<Recorded> {
    dialect::check_subject_id(db.get_database_backend(), (M::SUBJECT_TYPE, subject_id))?;
    let mut row = HookedRow {
        subject_type: M::SUBJECT_TYPE,
        subject_id,
        write,
        by: Attribution::current(None, properties.as_ref()),
        gone,
        new_key,
        may_baseline: before.row().is_some(),
        fresh,
    };
    let mut outcome = dialect::write_hooked(db, &row).await?;
    if outcome == Outcome::NoBaseline
        && let Some(before) = before.row()
    {
        write_baseline(db, &row, &before.snapshot()?).await?;
        row.may_baseline = false;
        outcome = dialect::write_hooked(db, &row).await?;
    }
    match outcome {
        Outcome::Written => return Ok(Recorded::Done),
        Outcome::Stale => return Ok(Recorded::NeedsRow),
        Outcome::NotDeleted => {
            // A trigger, rule or policy cancelled the delete: no `deleted` for a row that
            // is still there.
            tracing::debug!(
                subject_type = M::SUBJECT_TYPE,
                subject_id,
                "audit: the row is still there after its delete: nothing logged"
            );
            return Ok(Recorded::Done);
        }
        Outcome::AlreadyDeleted => {
            // The hook cannot tell a delete that removed nothing from one that removed a
            // row inserted again outside the trail (SeaORM does not pass it the count).
            tracing::warn!(
                subject_type = M::SUBJECT_TYPE,
                subject_id,
                "audit: delete of a row whose latest version says it was deleted already: \
                 nothing logged; if the row had been inserted again outside the trail, its \
                 delete is not in the trail (`audit_seaorm::backfill` logs such rows as drift \
                 while they exist)"
            );
            return Ok(Recorded::Done);
        }
        Outcome::NoBaseline => {}
    }
    if row.write.kind == plan::Kind::Deleted {
        // Every row of a baselined type has a version (a type without one had its row read
        // before the delete, and a row found got its baseline above): with none, no row
        // was deleted, or one inserted outside the trail, whose insert went unlogged too.
        if matches!(before, Before::Absent) {
            // (the usual case: a delete of a row that was not there)
            tracing::debug!(
                subject_type = M::SUBJECT_TYPE,
                subject_id,
                "audit: delete of a row that was not there and has no version: nothing logged"
            );
            return Ok(Recorded::Done);
        }
        tracing::warn!(
            subject_type = M::SUBJECT_TYPE,
            subject_id,
            "audit: delete of a row that has no version: nothing logged; if the row had been \
             inserted outside the trail, its delete is not in the trail (`audit_seaorm::backfill` \
             gives such rows a baseline while they exist)"
        );
        return Ok(Recorded::Done);
    }
    tracing::warn!(
        subject_type = M::SUBJECT_TYPE,
        subject_id,
        "audit: no earlier version of this row, so the old values of this write are unknown; \
         run `audit_seaorm::backfill` for this entity to give every row a baseline"
    );
    let mut props = match properties {
        Some(Json::Object(p)) => p,
        _ => Map::new(),
    };
    props.insert("baseline".to_owned(), json!("missing"));
    let empty = Map::new();
    crate::write::write(
        db,
        Record {
            subject_type: M::SUBJECT_TYPE,
            subject_id,
            causer_id: None,
            activity: Some(ActivityRow {
                action: row.write.action,
                changes: &Changes::new(),
                properties: Some(Json::Object(props)),
            }),
            version: Some(VersionRow {
                event: row.write.action,
                data: row.write.data.unwrap_or(&empty),
            }),
        },
    )
    .await?;
    Ok(Recorded::Done)
}

/// What [`record`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The write is in the trail (or needed nothing there).
    Done,
    /// Nothing was written: call again with `data` from a locking read of the row and
    /// `fresh` set (see [`Outcome::Stale`]).
    NeedsRow,
}

/// Writes version 1 of a subject with the state it had before auditing saw it, unless a
/// version 1 is there already (a `backfill` that committed it since the write's read: the
/// insert waits for it, then leaves it).
async fn write_baseline<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
    data: &Map<String, Json>,
) -> Result<()> {
    use sea_orm::sea_query::OnConflict;
    let mut insert = dialect::version_insert(
        (row.subject_type, row.subject_id),
        BASELINE,
        data,
        None,
        row.by.created_at,
        Value::BigInt(Some(1)).into(),
        db.get_database_backend(),
    );
    insert.on_conflict(
        OnConflict::columns([
            versions::Column::SubjectType,
            versions::Column::SubjectId,
            versions::Column::Version,
        ])
        .do_nothing_on([versions::Column::SubjectType])
        .to_owned(),
    );
    db.execute(&insert)
        .await
        .map_err(Error::db("writing the baseline version"))?;
    Ok(())
}

/// The action a hooked write logs.
pub(crate) fn action_of(kind: plan::Kind) -> Action {
    match kind {
        plan::Kind::Created => Action::Created,
        plan::Kind::Updated => Action::Updated,
        plan::Kind::Deleted => Action::Deleted,
    }
}
