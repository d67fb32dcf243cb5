//! Scrubbing a field that became `#[audit(redact)]` out of the trail written before.

use audit_core::{Audited, FieldMode, REDACTED};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};
use serde_json::Value;

use crate::api::column_json;
use crate::chain::erase::erase_row;
use crate::chain::hash::{Kind, Row};
use crate::entity::{activity_log, versions};
use crate::{AuditedModel, Error, Result};

/// What [`redact_history`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redacted {
    /// Versions whose snapshot held the field (it is removed from them).
    pub versions: u64,
    /// Activity entries whose changes held its values (they read `"[redacted]"` now).
    pub entries: u64,
    /// The `redacted` entry that records the scrub (none when nothing was scrubbed): what
    /// tells it from a forged erasure (see the README's "Tamper evidence").
    pub entry_id: Option<i64>,
}

/// The action of the entry [`redact_history`] writes when it scrubbed anything (under the
/// subject type, with no subject id; properties: `subject_type`, `field`, `versions`,
/// `entries`).
pub const REDACTED_ACTION: &str = "redacted";

/// Rows read per batch by [`redact_history`].
const BATCH: u64 = 500;

/// Removes the values of `field` of `E` from the trail written before it became
/// `#[audit(redact)]`: the field leaves every version's snapshot (as it is absent from the
/// snapshots written since), and every entry that recorded a change of it keeps the change
/// with `"[redacted]"` for each value that was not null.
///
/// Making a field `#[audit(redact)]` changes what is written from then on only: run this
/// once to scrub what the trail already holds. `field` must be a field of the model marked
/// `#[audit(redact)]` (anything else is refused, so an audited field cannot be scrubbed by
/// mistake). It reads in batches and writes one `UPDATE` per changed row, all in one
/// transaction, with a `redacted` entry ([`REDACTED_ACTION`]) naming the subject type, the
/// field and the counts when it scrubbed anything. Sealed rows keep verifying, as with
/// [`erase`](crate::erase): the values' commitments stay in their links. Restores of the
/// scrubbed versions keep the field's current value, as for every redacted field.
///
/// ```
/// # async fn demo<E>(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<()>
/// # where E: sea_orm::EntityTrait, E::Model: audit_seaorm::AuditedModel {
/// let done = audit_seaorm::redact_history::<E, _>(db, "password_hash").await?;
/// println!("{} versions and {} entries scrubbed", done.versions, done.entries);
/// # Ok(())
/// # }
/// ```
pub async fn redact_history<E, C>(db: &C, field: &str) -> Result<Redacted>
where
    E: EntityTrait,
    E::Model: AuditedModel,
    C: ConnectionTrait + TransactionTrait,
{
    let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
    let redacted = <E::Model as Audited>::FIELDS
        .iter()
        .any(|f| f.name == field && f.mode == FieldMode::Redacted);
    if !redacted {
        return Err(Error::NotRedacted {
            subject_type,
            field: field.to_owned(),
        });
    }
    // One transaction holding the seal runs' lock: sealed rows keep verifying (their
    // values' commitments stay in their links), and no row is sealed half-scrubbed.
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("starting to redact the history"))?;
    crate::chain::seal::lock_runs(&txn).await?;
    let mut done = Redacted {
        versions: scrub_versions(&txn, subject_type, field).await?,
        entries: scrub_entries(&txn, subject_type, field).await?,
        entry_id: None,
    };
    if done.versions + done.entries > 0 {
        let entry = crate::api::log(
            &txn,
            // Under the subject type (no subject id): whoever may not read the type does not
            // see which of its fields was redacted either.
            crate::NewActivity::new(REDACTED_ACTION)
                .subject(subject_type, "")
                .properties(serde_json::json!({
                    "subject_type": subject_type,
                    "field": field,
                    "versions": done.versions,
                    "entries": done.entries,
                })),
        )
        .await?;
        done.entry_id = Some(entry.id);
    }
    txn.commit()
        .await
        .map_err(Error::db("committing the redacted history"))?;
    Ok(done)
}

async fn scrub_versions<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    field: &str,
) -> Result<u64> {
    use versions::Column as V;
    let (mut after, mut changed) = (i64::MIN, 0u64);
    loop {
        let rows = versions::Entity::find()
            .filter(V::SubjectType.eq(subject_type))
            .filter(V::Id.gt(after))
            .order_by_asc(V::Id)
            .limit(BATCH)
            .all(db)
            .await
            .map_err(Error::db("reading versions to redact"))?;
        let Some(last) = rows.last() else {
            return Ok(changed);
        };
        after = last.id;
        for row in rows {
            let data = column_json(&row.data);
            if data.get(field).is_none() {
                continue;
            }
            if erase_row(db, Kind::Versions, Row::Versions(row), &[field], REDACTED).await? {
                changed += 1;
            }
        }
    }
}

async fn scrub_entries<C: ConnectionTrait>(db: &C, subject_type: &str, field: &str) -> Result<u64> {
    use activity_log::Column as A;
    let (mut after, mut changed) = (i64::MIN, 0u64);
    loop {
        let rows = activity_log::Entity::find()
            .filter(A::SubjectType.eq(subject_type))
            .filter(A::Id.gt(after))
            .order_by_asc(A::Id)
            .limit(BATCH)
            .all(db)
            .await
            .map_err(Error::db("reading activity to redact"))?;
        let Some(last) = rows.last() else {
            return Ok(changed);
        };
        after = last.id;
        for row in rows {
            let changes = column_json(&row.changes);
            let Some(change) = changes.get(field).and_then(Value::as_object) else {
                continue;
            };
            let holds_value = ["old", "new"].iter().any(|side| {
                change
                    .get(*side)
                    .is_some_and(|v| !v.is_null() && *v != REDACTED)
            });
            if !holds_value {
                continue;
            }
            if erase_row(db, Kind::Log, Row::Log(row), &[field], REDACTED).await? {
                changed += 1;
            }
        }
    }
}
