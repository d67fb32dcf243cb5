//! Typed restore: write a version back into its entity.

use std::collections::BTreeMap;
use std::future::Future;

use audit_core::{Action, ActivityEntry, Audited, Changes, SubjectId, Version};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, Iterable, PrimaryKeyToColumn, QueryFilter, QuerySelect,
};
use serde::Serialize;
use serde_json::Value;

use crate::history::{self, Blame, KeyOf, RecordsPage};
use crate::trail::restoring::Restoring;
use crate::{AuditedModel, Error, Result};

/// The typed trail of an audited entity: restore (`post::Entity::restore(&db, version_id)`)
/// and the questions asked of a record's history, by its primary key
/// (`post::Entity::as_of(&db, 7, t)`).
pub trait AuditedEntity: EntityTrait {
    /// Writes a version back into its row and returns the restored model.
    ///
    /// The row is updated when it exists and re-inserted when it was deleted. Audited
    /// fields take the snapshot's values; skipped and redacted fields keep their current
    /// values (on a re-inserted row: their type's default, or an error when it has none).
    /// The write goes through the hooks and is logged as "restored" with its diff and a new
    /// version. Errors: an unknown version, a version of another subject type, a snapshot
    /// that no longer fits the model, strict mode outside a transaction; these write
    /// nothing. A database error during the write can leave the row restored without its
    /// audit rows unless the call runs in a transaction: run it in one.
    fn restore<C>(db: &C, version_id: i64) -> impl Future<Output = Result<Self::Model>> + Send
    where
        C: ConnectionTrait;

    /// The record's activity entries, oldest first: `post::Entity::history(&db, 7)`, or
    /// `(7, "en".to_owned())` for a composite key.
    fn history<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
    ) -> impl Future<Output = Result<Vec<ActivityEntry>>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;

    /// The record's versions, version 1 first.
    fn versions<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
    ) -> impl Future<Output = Result<Vec<Version>>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;

    /// The version in force at `t`: the highest-numbered one written at or before `t`
    /// (exact at the boundary, at the stored microsecond; `None` before the first). As
    /// [`as_of`](Self::as_of): [`Error::StatePruned`] when the versions up to `t` were
    /// pruned, [`Error::StateBeforeTrail`] when the record's first version is a baseline
    /// written after `t` (not "not created yet" in either case).
    fn version_at<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        t: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Version>>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;

    /// The record as it stood at `t`; `None` when it did not exist then (not yet created,
    /// or deleted). Fields no snapshot holds (redacted, skipped) take their type's default;
    /// a snapshot's field the model no longer has is left out (with a `tracing` warning).
    /// [`Error::NoTrail`](crate::Error::NoTrail) when the row exists but the trail holds no
    /// version of it (written around the hooks, or older than auditing and not backfilled).
    /// [`Error::StatePruned`](crate::Error::StatePruned) when the record's versions up to
    /// `t` were pruned ([`keep_versions`](crate::Retention::keep_versions)): the trail
    /// cannot tell what it was then, nor whether it existed.
    ///
    /// ```standalone_crate
    /// # mod post {
    /// #     use audit_seaorm::Audited;
    /// #     use sea_orm::entity::prelude::*;
    /// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    /// #     #[sea_orm(table_name = "posts")]
    /// #     pub struct Model {
    /// #         #[sea_orm(primary_key)]
    /// #         pub id: i32,
    /// #         pub title: String,
    /// #     }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    /// # }
    /// use audit_seaorm::AuditedEntity;
    ///
    /// async fn yesterdays_title(db: &sea_orm::DatabaseConnection) -> audit_seaorm::Result<Option<String>> {
    ///     let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    ///     let then = post::Entity::as_of(db, 7, yesterday).await?;
    ///     Ok(then.map(|post| post.title))
    /// }
    /// # fn main() {}
    /// ```
    fn as_of<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        t: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Self::Model>>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;

    /// [`as_of`](Self::as_of) of many records in one query (on SQLite and MySQL/MariaDB,
    /// one per 10,000 keys): those that existed at `t`, each once
    /// ([`Error::StatePruned`](crate::Error::StatePruned) when one's state then was
    /// pruned, [`Error::StateBeforeTrail`](crate::Error::StateBeforeTrail) when one's
    /// trail starts after `t` with its baseline).
    fn as_of_many<C: ConnectionTrait>(
        db: &C,
        keys: &[KeyOf<Self>],
        t: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Self::Model>>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;

    /// Every record of the entity as it stood at `t`, a page of at most `limit` (capped
    /// like every page) at a time, in subject id order, one query per page: pass the
    /// page's `next_after` as `after` for the next. Records deleted at `t` are left out, so
    /// a page may hold fewer; so are records whose versions up to `t` were pruned
    /// ([`keep_versions`](crate::Retention::keep_versions)) or whose trail starts after `t`
    /// with their baseline (rows older than auditing), which [`as_of`](Self::as_of)
    /// reports as [`Error::StatePruned`](crate::Error::StatePruned) and
    /// [`Error::StateBeforeTrail`](crate::Error::StateBeforeTrail).
    fn all_as_of<C: ConnectionTrait>(
        db: &C,
        t: DateTime<Utc>,
        after: Option<&SubjectId>,
        limit: u64,
    ) -> impl Future<Output = Result<RecordsPage<Self::Model>>> + Send;

    /// The changes from the record's version `from` to its version `to` (by number), in the
    /// log's `{field: {old, new}}` shape; redacted fields are in no version, so in no diff.
    fn diff<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<Changes>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;

    /// The changes from the record's state at `t` to its latest version (every field that
    /// is not null new when it did not exist at `t`, every field that was not null to
    /// `null` when it is deleted now: a diff of states, where a null and a missing value
    /// are the same;
    /// [`Error::StatePruned`](crate::Error::StatePruned) when its state at `t` was
    /// pruned, [`Error::StateBeforeTrail`](crate::Error::StateBeforeTrail) when its trail
    /// starts after `t` with its baseline).
    fn changes_since<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        t: DateTime<Utc>,
    ) -> impl Future<Output = Result<Changes>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;

    /// For each field the trail has seen change, the last entry that changed it: who, when,
    /// in which request, old → new. The key has none (it never changes). The entries are
    /// read newest first, a page at a time, until every audited field is found.
    fn blame<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
    ) -> impl Future<Output = Result<BTreeMap<String, Blame>>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;

    /// Every change of one field of the record, oldest first.
    fn field_history<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        field: &str,
    ) -> impl Future<Output = Result<Vec<Blame>>> + Send
    where
        KeyOf<Self>: Serialize + Send + Sync;
}

impl<E> AuditedEntity for E
where
    E: EntityTrait,
    E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: Send,
{
    fn restore<C>(db: &C, version_id: i64) -> impl Future<Output = Result<Self::Model>> + Send
    where
        C: ConnectionTrait,
    {
        restore_model::<E, C>(db, version_id, None)
    }

    async fn history<C: ConnectionTrait>(db: &C, key: KeyOf<Self>) -> Result<Vec<ActivityEntry>>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        let id = history::subject_id_of::<E>(&key)?;
        crate::history(db, subject_type::<E>(), id).await
    }

    async fn versions<C: ConnectionTrait>(db: &C, key: KeyOf<Self>) -> Result<Vec<Version>>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        let id = history::subject_id_of::<E>(&key)?;
        crate::versions(db, subject_type::<E>(), id).await
    }

    async fn version_at<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        t: DateTime<Utc>,
    ) -> Result<Option<Version>>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        let id = history::subject_id_of::<E>(&key)?;
        history::state_at(db, subject_type::<E>(), id.as_str(), t).await
    }

    async fn as_of<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        t: DateTime<Utc>,
    ) -> Result<Option<Self::Model>>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        history::as_of::<E, C>(db, key, t).await
    }

    async fn as_of_many<C: ConnectionTrait>(
        db: &C,
        keys: &[KeyOf<Self>],
        t: DateTime<Utc>,
    ) -> Result<Vec<Self::Model>>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        history::as_of_many::<E, C>(db, keys, t).await
    }

    async fn all_as_of<C: ConnectionTrait>(
        db: &C,
        t: DateTime<Utc>,
        after: Option<&SubjectId>,
        limit: u64,
    ) -> Result<RecordsPage<Self::Model>> {
        history::all_as_of::<E, C>(db, t, after, limit).await
    }

    async fn diff<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        from: i64,
        to: i64,
    ) -> Result<Changes>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        let id = history::subject_id_of::<E>(&key)?;
        history::diff(db, subject_type::<E>(), id.as_str(), from, to).await
    }

    async fn changes_since<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        t: DateTime<Utc>,
    ) -> Result<Changes>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        let id = history::subject_id_of::<E>(&key)?;
        // A record deleted then (or now) has no fields then (or now).
        let data = |v: Option<Version>| v.map_or(Value::Null, history::state);
        let then = history::state_at(db, subject_type::<E>(), id.as_str(), t).await?;
        let now = history::latest_version(db, subject_type::<E>(), id.as_str()).await?;
        Ok(Changes::between(&data(then), &data(now)))
    }

    async fn blame<C: ConnectionTrait>(db: &C, key: KeyOf<Self>) -> Result<BTreeMap<String, Blame>>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        let id = history::subject_id_of::<E>(&key)?;
        history::blame_of::<E::Model, C>(db, subject_type::<E>(), id.as_str()).await
    }

    async fn field_history<C: ConnectionTrait>(
        db: &C,
        key: KeyOf<Self>,
        field: &str,
    ) -> Result<Vec<Blame>>
    where
        KeyOf<Self>: Serialize + Send + Sync,
    {
        let id = history::subject_id_of::<E>(&key)?;
        history::field_history(db, subject_type::<E>(), id.as_str(), field).await
    }
}

fn subject_type<E: EntityTrait>() -> &'static str
where
    E::Model: Audited,
{
    <E::Model as Audited>::SUBJECT_TYPE
}

/// The `SELECT` of the row of `E` a snapshot names by its key fields.
pub(crate) fn by_snapshot_key<E>(
    data: &serde_json::Map<String, Value>,
) -> Result<sea_orm::Select<E>>
where
    E: EntityTrait,
    E::Model: AuditedModel,
{
    let key = <E::Model as AuditedModel>::key_from_snapshot(data)?;
    let mut query = E::find();
    for (pk, value) in E::PrimaryKey::iter().zip(key) {
        query = query.filter(pk.into_column().eq(value));
    }
    Ok(query)
}

/// `row`, found by a record's key, unless it is another record's: a key column whose
/// collation compares loosely (MySQL/MariaDB's `_ci` collations, PostgreSQL's `citext`)
/// finds `"rust"` by `"Rust"`, which the trail keeps apart.
pub(crate) fn same_record<M: AuditedModel>(
    row: Option<M>,
    subject_type: &str,
    subject_id: &str,
) -> Result<Option<M>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let found = row.subject_id()?;
    if found.as_str() != subject_id {
        return Err(Error::KeyMatchesAnother {
            subject_type: subject_type.to_owned(),
            subject_id: subject_id.to_owned(),
            found: found.as_str().to_owned(),
        });
    }
    Ok(Some(row))
}

/// The function behind [`AuditedEntity::restore`]; a revert passes the action and
/// properties its entry is logged with (default: `restored`, with the version restored).
pub(crate) async fn restore_model<E, C>(
    db: &C,
    version_id: i64,
    logged_as: Option<(Action, Value)>,
) -> Result<E::Model>
where
    E: EntityTrait,
    E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: Send,
    C: ConnectionTrait,
{
    let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
    crate::registry::check(subject_type)?;
    // Refused here with a typed error; the hooks would refuse it too, but as a `DbErr`.
    if audit_core::AuditContext::strict_mode() && crate::hooks::is_plain_connection::<C>() {
        return Err(Error::NotInTransaction { subject_type });
    }
    let version = crate::api::version(db, version_id)
        .await?
        .ok_or(Error::VersionNotFound(version_id))?;
    restore_version::<E, C>(db, version, logged_as, false).await
}

/// [`restore_model`] of a version already read (a revert has them all; it logged the
/// row's outside changes when it locked it: `drift_logged`).
pub(crate) async fn restore_version<E, C>(
    db: &C,
    version: audit_core::Version,
    logged_as: Option<(Action, Value)>,
    drift_logged: bool,
) -> Result<E::Model>
where
    E: EntityTrait,
    E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: Send,
    C: ConnectionTrait,
{
    let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
    let version_id = version.id;
    // Before the row is read by the snapshot's key (in the enum's order), and before any
    // drift is logged from it: the hooks would refuse the write only after that.
    crate::hooks::check_key_order::<E>()?;
    if version.subject_type != subject_type {
        return Err(Error::SubjectMismatch {
            version_id,
            expected: subject_type,
            found: version.subject_type,
        });
    }
    let current = by_snapshot_key::<E>(&version.data)?
        .lock_exclusive()
        .one(db)
        .await
        .map_err(Error::db("reading the row to restore"))?;
    let current = same_record(current, subject_type, version.subject_id.as_str())?;
    let target = <E::Model as Audited>::from_snapshot(current.as_ref(), &version.data)?;
    // The key comes from the snapshot's data: it must name the subject the version is of.
    let subject_id = target.subject_id()?;
    if subject_id != version.subject_id {
        return Err(Error::Corrupt {
            what: "version",
            id: version_id,
            reason: format!(
                "its data is keyed `{subject_id}` but it is a version of `{}`",
                version.subject_id
            ),
        });
    }
    // Checked above before anything is written (a version that cannot be restored writes
    // nothing); every field is written back: what changed outside the trail goes first.
    if !drift_logged {
        match current.as_ref() {
            Some(row) => {
                log_drift(db, subject_type, version.subject_id.as_ref(), row).await?;
            }
            // Gone while the trail says it is there: deleted outside the trail, which the
            // trail records before the row comes back (so that a revert of this restore
            // deletes it again).
            None => {
                log_drift_gone::<E::Model, C>(db, subject_type, version.subject_id.as_ref())
                    .await?;
            }
        }
    }
    let (action, properties) = logged_as.unwrap_or_else(|| {
        let properties = serde_json::json!({
            "restored_version": version.version,
            "restored_version_id": version_id,
        });
        (Action::Restored, properties)
    });
    let marker = Restoring {
        subject_type,
        subject_id: subject_id.into_string(),
        action,
        properties,
    };
    let (number, id) = (version.version, version.subject_id.to_string());
    let refused = |context: &'static str| {
        let id = id.clone();
        move |source: DbErr| {
            let Some(constraint) = refused_by(&source) else {
                return Error::db(context)(source);
            };
            Error::RestoreRefused {
                subject_type: subject_type.to_owned(),
                subject_id: id,
                version: number,
                constraint,
                source: Box::new(source),
            }
        }
    };
    marker
        .scope(async move {
            match current {
                Some(current) => {
                    // Only what differs from the row is written, and so is the write's own
                    // change: a field the version does not hold (a column added since)
                    // keeps its value and is not reported as the restorer's change.
                    let restored =
                        <E::Model as AuditedModel>::restore_active_model(current.clone(), &target);
                    let mut written = current.into_active_model();
                    for c in <E::Column as Iterable>::iter() {
                        if let ActiveValue::Set(v) = restored.get(c) {
                            written.set_if_not_equals(c, v);
                        }
                    }
                    written
                        .update(db)
                        .await
                        .map_err(refused("writing the restored row"))
                }
                None => target
                    .into_active_model()
                    .insert(db)
                    .await
                    .map_err(refused("re-inserting the restored row")),
            }
        })
        .await
}

/// What the database refused a written row by, when it refused it for the row's values
/// (a constraint, or a value the column's type does not take: a string too long for a
/// `VARCHAR(n)`, a number out of its range); `None` for every other failure.
fn refused_by(err: &DbErr) -> Option<&'static str> {
    use sea_orm::sqlx::error::ErrorKind;
    use sea_orm::{RuntimeErr, sqlx};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sqlx::Error::Database(e) = &**e else {
        return None;
    };
    Some(match e.kind() {
        ErrorKind::UniqueViolation => "a unique key",
        ErrorKind::ForeignKeyViolation => "a foreign key",
        ErrorKind::NotNullViolation => "a NOT NULL constraint",
        ErrorKind::CheckViolation => "a check constraint",
        ErrorKind::ExclusionViolation => "an exclusion constraint",
        _ => {
            let code = e.code()?;
            // SQLSTATE (PostgreSQL, MySQL/MariaDB): class 23 is a constraint, class 22 a
            // value the column does not take. SQLite: an extended code of
            // `SQLITE_CONSTRAINT` (19).
            if code.starts_with("23") {
                "a constraint"
            } else if code.starts_with("22") {
                "the column's type"
            } else if code.parse::<i32>().is_ok_and(|c| c & 0xff == 19) {
                "a constraint"
            } else {
                return None;
            }
        }
    })
}

/// Logs that a record's row is gone while its latest version says it exists (deleted
/// outside the trail): a `drift` entry taking every field to `null`, with no causer, and a
/// `deleted` version keeping the last state, as the record's hooked delete would have
/// written (the fields `M` redacts named `[redacted]` and left out of the version: a value
/// a version took before its field was redacted is not copied). That entry's id; `None`
/// when the trail already says it is gone (or has no version of it).
pub(crate) async fn log_drift_gone<M: AuditedModel, C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
) -> Result<Option<i64>> {
    let mysql = db.get_database_backend() == sea_orm::DbBackend::MySql;
    let Some(latest) = crate::dialect::latest(db, subject_type, subject_id, mysql).await? else {
        return Ok(None);
    };
    if !latest.alive() {
        return Ok(None);
    }
    let redacted = crate::hooks::redacted(M::FIELDS, None, Value::Null);
    let mut data = latest.data;
    for field in redacted.fields() {
        data.remove(field);
    }
    let mut changes = audit_core::Changes::between(&Value::Object(data.clone()), &Value::Null);
    for (field, change) in redacted.iter() {
        changes.insert(field, change.old.clone(), change.new.clone());
    }
    let deleted = crate::trail::plan::Kind::Deleted.as_str();
    write_drift(db, (subject_type, subject_id), &changes, (deleted, &data)).await
}

/// Writes a `drift` entry of `changes` and a version (`event`, `data`), with no causer,
/// address or request: nobody in the trail made the change. The entry's id.
async fn write_drift<C: ConnectionTrait>(
    db: &C,
    (subject_type, subject_id): (&str, &str),
    changes: &audit_core::Changes,
    (event, data): (&str, &serde_json::Map<String, Value>),
) -> Result<Option<i64>> {
    let (entry, _) = audit_core::AuditContext::new()
        .scope(crate::write::write(
            db,
            crate::write::Record {
                subject_type,
                subject_id,
                causer_id: None,
                activity: Some(crate::write::ActivityRow {
                    action: crate::trail::plan::DRIFT,
                    changes,
                    properties: None,
                }),
                version: Some(crate::write::VersionRow { event, data }),
            },
        ))
        .await?;
    Ok(entry.map(|e| e.id))
}

/// When the locked `row` differs from its record's latest version (changed outside the
/// trail: raw SQL, `update_many`, another program), logs the difference as a `drift`
/// entry and version with no causer, as the record's next hooked write would: that
/// entry's id. A restore and a revert write every field back, so without it the outside
/// values would be lost from the trail, and the change attributed to their causer.
pub(crate) async fn log_drift<M: AuditedModel, C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    subject_id: &str,
    row: &M,
) -> Result<Option<i64>> {
    use crate::trail::plan::{DRIFT, Hooked, Kind, Plan, plan};
    // On MySQL/MariaDB a locking read: the transaction's snapshot (taken at its first
    // read) may predate the latest version, which the row lock has waited for.
    let mysql = db.get_database_backend() == sea_orm::DbBackend::MySql;
    let Some(latest) = crate::dialect::latest(db, subject_type, subject_id, mysql).await? else {
        return Ok(None);
    };
    let data = row.snapshot()?;
    let none = audit_core::Changes::new();
    // An update that set nothing: every difference is drift.
    let write = Hooked {
        kind: Kind::Updated,
        action: DRIFT,
        data: Some(&data),
        set: Some(&[]),
        extra: &none,
        force: false,
    };
    let Ok(Plan {
        drift: Some(changes),
        ..
    }) = plan(&write, Some(&latest))
    else {
        return Ok(None);
    };
    write_drift(db, (subject_type, subject_id), &changes, (DRIFT, &data)).await
}
