//! [`backfill`]: a baseline version for every row that has none.

use chrono::SubsecRound;
use std::collections::HashSet;

use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, Iterable, ModelTrait, PrimaryKeyToColumn,
    QueryFilter, QuerySelect, TransactionSession, TransactionTrait, Value,
};

use crate::bulk::record::{MAX_STATEMENT_BYTES, value_len};
use crate::entity::versions;
use crate::trail::baseline;
use crate::trail::plan::{BASELINE, Kind};
use crate::{AuditedModel, Error, Result, SubjectId};

/// What [`backfill`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backfill {
    /// Rows read.
    pub rows: u64,
    /// Baseline versions written (rows that had no version).
    pub written: u64,
    /// Rows found inserted again outside the trail after their `deleted` version, each
    /// logged as `drift` (an entry with no causer, every field from `null`, and a version
    /// holding the row), so that the trail says the row exists again.
    pub drift: u64,
    /// Rows whose subject id the trail cannot hold: too long ([`Error::SubjectIdTooLong`])
    /// or, on MySQL/MariaDB, ending in a space ([`Error::TrailingSpace`]). They get no
    /// baseline (a `tracing` warning for each), and an audited write of them fails the
    /// same way (see [`Error::TrailingSpace`] for when), so they do not keep the type from
    /// its baseline mark.
    pub too_long: u64,
}

impl Backfill {
    /// Rows read per batch.
    pub const BATCH: u64 = 1000;
}

/// Gives every existing row of `E` that has no version a baseline version (version 1,
/// event `baseline`, no causer, no activity entry), then marks `E` as baselined, so that
/// its hooks stop reading rows before updates and deletes.
///
/// Run it once when you start auditing an entity whose table already holds rows (on an
/// empty table it returns at once; the first audited insert into an empty table marks it
/// by itself). It reads the table in primary-key order, [`Backfill::BATCH`] rows at a time,
/// each batch one read of the rows and one multi-row insert; it
/// holds no lock across batches and logs progress through `tracing` (target
/// `audit_seaorm::backfill`). It is safe to interrupt and run again: rows that have a
/// version (a version 1) are skipped. Writes running meanwhile are logged as usual (a row they create
/// gets its own version 1 and is skipped).
///
/// A row whose latest version says it was deleted was inserted again outside the trail:
/// `backfill` logs it as `drift` ([`Backfill::drift`]), checked again with the row locked
/// in a transaction of its batch's (on SQLite one that takes the write lock), so that a
/// write running meanwhile is not taken for such a change. Other changes made outside the
/// trail are not looked for: the next audited write of the row logs them as drift.
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
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # use sea_orm::ConnectionTrait;
/// # db.execute_unprepared("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL)").await?;
/// # db.execute_unprepared("INSERT INTO posts VALUES (1, 'older than auditing')").await?;
/// audit_seaorm::install(&db).await?;
/// let done = audit_seaorm::backfill::<post::Entity, _>(&db).await?;
/// assert_eq!((done.rows, done.written, done.drift), (1, 1, 0));
/// # Ok(())
/// # }
/// ```
pub async fn backfill<E, C>(db: &C) -> Result<Backfill>
where
    E: EntityTrait,
    E::Model: AuditedModel,
    C: ConnectionTrait + TransactionTrait,
{
    let subject_type = <E::Model as audit_core::Audited>::SUBJECT_TYPE;
    // What refuses a hooked write refuses this too: a subject type two models share, a
    // key whose fields the entity orders otherwise than the model.
    crate::registry::check(subject_type)?;
    crate::hooks::check_key_order::<E>()?;
    let pks: Vec<E::Column> = E::PrimaryKey::iter().map(|pk| pk.into_column()).collect();
    let mut done = Backfill::default();
    let mut after: Option<Vec<Value>> = None;
    loop {
        // The bulk writes' keyset pages: MySQL `ENUM` and PostgreSQL enum keys included.
        let query =
            crate::bulk::in_key_order(E::find(), after.as_deref(), db.get_database_backend());
        let rows = query
            .limit(Backfill::BATCH)
            .all(db)
            .await
            .map_err(Error::db("reading rows to backfill"))?;
        let Some(last) = rows.last() else { break };
        let last_key: Vec<Value> = pks.iter().map(|c| last.get(*c)).collect();
        // The next page starts after this key as read back: one stored in another form
        // (a SQLite date another program wrote `2024-1-1`, read as `2024-01-01`) compares
        // otherwise than the row, and the walk would skip rows or meet them again.
        if rows.len() as u64 == Backfill::BATCH
            && crate::bulk::find_by_keys::<E, _>(db, std::slice::from_ref(&last_key), false)
                .await?
                .is_empty()
        {
            return Err(Error::BackfillKeyUnmatched {
                subject_type,
                subject_id: audit_core::Audited::subject_id(last)?.into_string(),
                written: done.written,
            });
        }
        after = Some(last_key);
        done.rows += rows.len() as u64;
        let batch = write_batch(db, subject_type, &rows).await?;
        done.written += batch.written;
        done.too_long += batch.too_long;
        done.drift += log_reinserted::<E, C>(db, subject_type, &rows, &batch.versioned).await?;
        tracing::info!(
            target: "audit_seaorm::backfill",
            subject_type,
            rows = done.rows,
            written = done.written,
            drift = done.drift,
            too_long = done.too_long,
            "backfill progress"
        );
        if (rows.len() as u64) < Backfill::BATCH {
            break;
        }
    }
    baseline::mark(db, subject_type, crate::hooks::is_plain_connection::<C>()).await?;
    Ok(done)
}

/// What one batch's baselines did.
struct Batch {
    /// Baseline versions written.
    written: u64,
    /// The ids of the batch's rows that had a version already.
    versioned: Vec<String>,
    /// Rows skipped: their subject id is too long for the trail.
    too_long: u64,
}

/// Logs as drift the rows of a batch that were inserted again outside the trail: those
/// among `versioned` whose latest version says `deleted`. Each is checked again with its
/// row locked, in one write transaction for the batch; the number logged.
async fn log_reinserted<E, C>(
    db: &C,
    subject_type: &str,
    rows: &[E::Model],
    versioned: &[String],
) -> Result<u64>
where
    E: EntityTrait,
    E::Model: AuditedModel,
    C: ConnectionTrait + TransactionTrait,
{
    if versioned.is_empty() {
        return Ok(0);
    }
    let latest = crate::history::latest_versions(db, subject_type, versioned, None).await?;
    let gone: HashSet<&str> = latest
        .iter()
        .filter(|v| v.event == Kind::Deleted.as_str())
        .map(|v| v.subject_id.as_str())
        .collect();
    if gone.is_empty() {
        return Ok(0);
    }
    let pks: Vec<E::Column> = E::PrimaryKey::iter().map(|pk| pk.into_column()).collect();
    let txn = crate::transaction::begin_own(db)
        .await
        .map_err(Error::db("beginning the backfill's drift transaction"))?;
    let mut logged = 0;
    for row in rows {
        let id = audit_core::Audited::subject_id(row)?.into_string();
        if !gone.contains(id.as_str()) {
            continue;
        }
        let mut find = E::find();
        for column in &pks {
            find = find.filter(column.eq(row.get(*column)));
        }
        let Some(locked) = find
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(Error::db("locking a row inserted again outside the trail"))?
        else {
            continue; // deleted meanwhile
        };
        if crate::restore::log_drift(&txn, subject_type, &id, &locked)
            .await?
            .is_some()
        {
            logged += 1;
        }
    }
    txn.commit()
        .await
        .map_err(Error::db("committing the backfill's drift entries"))?;
    Ok(logged)
}

/// Writes baseline versions for the rows of one batch that have none: each is inserted as
/// version 1, and the unique index skips the rows that have one. (Asking first which rows
/// have versions costs a query whose plan goes wrong while the table grows faster than
/// its statistics.)
async fn write_batch<M: AuditedModel, C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    rows: &[M],
) -> Result<Batch> {
    use versions::Column as V;
    let mysql = db.get_database_backend() == DbBackend::MySql;
    let ids = rows
        .iter()
        .map(|row| row.subject_id().map(SubjectId::into_string))
        .collect::<audit_core::Result<Vec<_>>>()?;
    // MySQL counts a duplicate key it skipped as a row affected: ask it instead.
    let versioned: Vec<String> = if mysql {
        versions::Entity::find()
            .select_only()
            .column(V::SubjectId)
            .distinct()
            .filter(V::SubjectType.eq(subject_type))
            .filter(V::SubjectId.is_in(ids.iter().map(String::as_str)))
            .into_tuple()
            .all(db)
            .await
            .map_err(Error::db("reading the versions of a backfill batch"))?
    } else {
        Vec::new()
    };
    let at = chrono::Utc::now().trunc_subsecs(6);
    let new_insert = || {
        let mut insert = Query::insert();
        insert.into_table(versions::Entity).columns([
            V::SubjectType,
            V::SubjectId,
            V::Version,
            V::Event,
            V::Data,
            V::CreatedAt,
        ]);
        insert.on_conflict(
            OnConflict::columns([V::SubjectType, V::SubjectId, V::Version])
                .do_nothing_on([V::Id])
                .to_owned(),
        );
        insert
    };
    // In statements of about `MAX_STATEMENT_BYTES` at most (a batch of wide rows would
    // pass a server's packet limit, and every run would stop at it).
    let mut inserts = Vec::new();
    let mut bytes = 0;
    let mut n = 0;
    let mut too_long = 0;
    for (row, id) in rows.iter().zip(&ids) {
        if let Err(e) =
            crate::dialect::check_subject_id(db.get_database_backend(), (subject_type, id))
        {
            // One such row must not stop the run for good (every run would stop there).
            tracing::warn!(
                target: "audit_seaorm::backfill",
                subject_type,
                error = %e,
                "audit: a row whose key is too long for the trail gets no baseline; its \
                 audited writes are refused the same way"
            );
            too_long += 1;
            continue;
        }
        if versioned.contains(id) {
            continue;
        }
        n += 1;
        let data = sea_orm::Value::from(serde_json::Value::Object(row.snapshot()?));
        let len = value_len(&data) + id.len() + subject_type.len();
        if inserts.is_empty() || bytes + len > MAX_STATEMENT_BYTES {
            inserts.push(new_insert());
            bytes = 0;
        }
        bytes += len;
        if let Some(insert) = inserts.last_mut() {
            insert.values_panic([
                subject_type.into(),
                id.as_str().into(),
                1i64.into(),
                BASELINE.into(),
                data.into(),
                crate::dialect::time(at, db.get_database_backend()),
            ]);
        }
    }
    if mysql {
        for insert in &inserts {
            db.execute(insert)
                .await
                .map_err(Error::db("writing baseline versions"))?;
        }
        return Ok(Batch {
            written: n,
            versioned,
            too_long,
        });
    }
    // The ids written: the batch's others had a version already.
    let mut written = HashSet::new();
    for mut insert in inserts {
        insert.returning_col(V::SubjectId);
        for r in db
            .query_all(&insert)
            .await
            .map_err(Error::db("writing baseline versions"))?
        {
            written.insert(
                r.try_get::<String>("", "subject_id")
                    .map_err(Error::db("writing baseline versions"))?,
            );
        }
    }
    Ok(Batch {
        written: written.len() as u64,
        versioned: ids
            .into_iter()
            .filter(|id| !written.contains(id))
            .filter(|id| {
                crate::dialect::check_subject_id(db.get_database_backend(), (subject_type, id))
                    .is_ok()
            })
            .collect(),
        too_long,
    })
}
