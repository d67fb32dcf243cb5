//! Scrubbing a field that became `#[audit(redact)]` out of the trail written before.

use audit_core::{Audited, FieldMode, REDACTED};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;

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
}

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
/// mistake). It works in batches, one `UPDATE` per changed row; run it in a transaction
/// to make it all or nothing. Restores of the scrubbed versions keep the field's current
/// value, as for every redacted field.
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
    C: ConnectionTrait,
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
    Ok(Redacted {
        versions: scrub_versions(db, subject_type, field).await?,
        entries: scrub_entries(db, subject_type, field).await?,
    })
}

/// The JSON of a column, parsed when the backend hands it back as text (MariaDB).
fn json(value: Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        other => other,
    }
}

async fn scrub_versions<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    field: &str,
) -> Result<u64> {
    use versions::Column as V;
    let (mut after, mut changed) = (0i64, 0u64);
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
            let mut data = json(row.data);
            if data.as_object_mut().and_then(|d| d.remove(field)).is_none() {
                continue;
            }
            versions::ActiveModel {
                id: ActiveValue::Unchanged(row.id),
                data: ActiveValue::Set(data),
                ..Default::default()
            }
            .update(db)
            .await
            .map_err(Error::db("redacting a version"))?;
            changed += 1;
        }
    }
}

async fn scrub_entries<C: ConnectionTrait>(db: &C, subject_type: &str, field: &str) -> Result<u64> {
    use activity_log::Column as A;
    let (mut after, mut changed) = (0i64, 0u64);
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
            let mut changes = json(row.changes);
            let Some(change) = changes.get_mut(field).and_then(Value::as_object_mut) else {
                continue;
            };
            let mut scrubbed = false;
            for side in ["old", "new"] {
                if let Some(v) = change
                    .get_mut(side)
                    .filter(|v| !v.is_null() && **v != REDACTED)
                {
                    *v = Value::from(REDACTED);
                    scrubbed = true;
                }
            }
            if !scrubbed {
                continue;
            }
            activity_log::ActiveModel {
                id: ActiveValue::Unchanged(row.id),
                changes: ActiveValue::Set(changes),
                ..Default::default()
            }
            .update(db)
            .await
            .map_err(Error::db("redacting an activity entry"))?;
            changed += 1;
        }
    }
}
