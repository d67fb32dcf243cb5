//! Bulk writes through the trail: SeaORM's `insert_many`, `update_many` and `delete_many`
//! never reach `ActiveModelBehavior`, so these do what they do and log every affected row
//! as a hooked write would.
//!
//! Each call works in batches of [`BulkWrite::BATCH`] rows (fewer when its filter's own
//! parameters leave less room under the backend's limit), in one transaction (a savepoint
//! when it runs inside yours): a batch locks and reads its rows in primary key order, writes
//! them, reads their latest versions in one query and sends the audit rows in multi-row
//! statements that stay under every backend's parameter limit. Memory is bounded by the
//! batch, not by the number of rows.

pub(crate) mod record;

use std::collections::HashMap;
use std::marker::PhantomData;

use audit_core::{Audited, FieldMode, REDACTED};
use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    IdenStatic, IntoActiveModel, Iterable, ModelTrait, PrimaryKeyToColumn, PrimaryKeyTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionSession, TransactionTrait, Value,
};
use serde_json::Value as Json;

use crate::dialect::Attribution;
use crate::history::KeyOf;
use crate::hooks::{auditing_on, check_key_order, redacted};
use crate::trail::baseline;
use crate::trail::plan::Kind;
use crate::{AuditedModel, Error, Result};
use record::Row;

/// What a bulk write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkWrite {
    /// Rows the statement wrote: inserted, updated (matched) or deleted.
    pub rows: u64,
    /// Activity entries written (a `drift` entry counts too).
    pub entries: u64,
    /// Versions written (a baseline version counts too).
    pub versions: u64,
}

impl BulkWrite {
    /// Rows locked, written and logged per batch.
    pub const BATCH: u64 = 1000;

    fn add(&mut self, rows: u64, (entries, versions): (u64, u64)) {
        self.rows += rows;
        self.entries += entries;
        self.versions += versions;
    }
}

/// Bulk writes of an audited entity that go through the trail:
/// `post::Entity::update_many_audited().col_expr(..).filter(..).exec(&db)`.
///
/// Each writes exactly the rows the plain SeaORM call would, plus one activity entry and
/// one version per affected row, with the diff, redaction, skip rules, context (causer,
/// IP, request id) and version numbering of a hooked write. A row whose audited fields do
/// not change gets nothing; a call that affects no row logs nothing. The entity's own
/// `ActiveModelBehavior` hooks do not run, as with SeaORM's bulk calls.
///
/// The call runs in a transaction of its own (a savepoint inside yours), so the rows and
/// their trail commit or roll back together; in [strict mode](crate::AuditContext::strict)
/// a call outside a transaction is refused ([`Error::NotInTransaction`]) before anything
/// is written. Under [`without_auditing`](crate::without_auditing) it is the plain call.
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
/// #         pub draft: bool,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # use sea_orm::ConnectionTrait;
/// # db.execute_unprepared("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL, draft BOOLEAN NOT NULL)").await?;
/// # audit_seaorm::install(&db).await?;
/// use audit_seaorm::AuditedBulk;
/// use sea_orm::sea_query::Expr;
/// use sea_orm::{ColumnTrait, Set};
///
/// let drafts = (0..3).map(|i| post::ActiveModel {
///     title: Set(format!("draft {i}")),
///     draft: Set(true),
///     ..Default::default()
/// });
/// post::Entity::insert_many_audited(drafts).exec(&db).await?;
/// let done = post::Entity::update_many_audited()
///     .col_expr(post::Column::Draft, Expr::value(false))
///     .filter(post::Column::Title.ne("draft 2"))
///     .exec(&db)
///     .await?;
/// assert_eq!((done.rows, done.entries, done.versions), (2, 2, 2));
/// post::Entity::delete_by_id_audited(3).exec(&db).await?;
/// assert_eq!(audit_seaorm::history(&db, "posts", 3).await?.len(), 2); // created, deleted
/// # Ok(())
/// # }
/// ```
pub trait AuditedBulk: EntityTrait {
    /// `insert_many` of `models`, each inserted row logged `created` with version 1 (or the
    /// next number, for a key that had a trail).
    fn insert_many_audited<I>(models: I) -> InsertManyAudited<Self, I::IntoIter>
    where
        I: IntoIterator<Item = Self::ActiveModel>,
    {
        InsertManyAudited {
            models: models.into_iter(),
            entity: PhantomData,
        }
    }

    /// `update_many`: add `filter`s and `col_expr`s or `set` an ActiveModel, then `exec`.
    fn update_many_audited() -> UpdateManyAudited<Self> {
        UpdateManyAudited {
            condition: Condition::all(),
            values: Vec::new(),
        }
    }

    /// `delete_many`: add `filter`s, then `exec`.
    fn delete_many_audited() -> DeleteManyAudited<Self> {
        DeleteManyAudited {
            condition: Condition::all(),
            entity: PhantomData,
        }
    }

    /// `delete_by_id`: the row with this primary key, then `exec`.
    fn delete_by_id_audited<T>(key: T) -> DeleteManyAudited<Self>
    where
        T: Into<KeyOf<Self>>,
    {
        let mut condition = Condition::all();
        let values = sea_orm::sea_query::IntoValueTuple::into_value_tuple(key.into());
        for (pk, v) in Self::PrimaryKey::iter().zip(values) {
            condition = condition.add(pk.into_column().eq(v));
        }
        DeleteManyAudited {
            condition,
            entity: PhantomData,
        }
    }
}

impl<E> AuditedBulk for E
where
    E: EntityTrait,
    E::Model: AuditedModel,
{
}

/// [`AuditedBulk::insert_many_audited`], ready to `exec`.
#[must_use = "nothing is written until `exec`"]
pub struct InsertManyAudited<E: EntityTrait, I> {
    models: I,
    entity: PhantomData<E>,
}

/// [`AuditedBulk::update_many_audited`], ready to `exec`.
#[must_use = "nothing is written until `exec`"]
pub struct UpdateManyAudited<E: EntityTrait> {
    condition: Condition,
    values: Vec<(E::Column, SimpleExpr)>,
}

/// [`AuditedBulk::delete_many_audited`], ready to `exec`.
#[must_use = "nothing is written until `exec`"]
pub struct DeleteManyAudited<E: EntityTrait> {
    condition: Condition,
    entity: PhantomData<E>,
}

impl<E: EntityTrait, I> std::fmt::Debug for InsertManyAudited<E, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsertManyAudited")
            .field("entity", &E::default().table_name())
            .finish_non_exhaustive()
    }
}

impl<E: EntityTrait> std::fmt::Debug for UpdateManyAudited<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateManyAudited")
            .field("entity", &E::default().table_name())
            // the columns set, not their values (a redacted field's among them)
            .field(
                "columns",
                &self
                    .values
                    .iter()
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<E: EntityTrait> std::fmt::Debug for DeleteManyAudited<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the condition: its values may be secrets (a redacted field's, filtered on).
        f.debug_struct("DeleteManyAudited")
            .field("entity", &E::default().table_name())
            .finish_non_exhaustive()
    }
}

impl<E, I> InsertManyAudited<E, I>
where
    E: EntityTrait,
    E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: Send,
    I: Iterator<Item = E::ActiveModel> + Send,
{
    /// Inserts the models and logs them; see [`AuditedBulk`].
    pub async fn exec<C>(self, db: &C) -> Result<BulkWrite>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
        if !auditing_on::<E::Model, C>()? {
            return insert_plain::<E, _, _>(db, self.models).await;
        }
        check_key_order::<E>()?;
        let txn = begin(db).await?;
        let step = id_step(&txn).await?;
        // An empty table has nothing older than auditing: its inserts give it a baseline.
        baseline::has_baseline::<E, _>(&txn, subject_type, true).await?;
        let mut done = BulkWrite::default();
        let mut models = self.models.peekable();
        while models.peek().is_some() {
            let chunk: Vec<_> = models.by_ref().take(insert_rows::<E>()).collect();
            let inserted = insert_batch::<E, _>(&txn, chunk, step).await?;
            let by = Attribution::current(None, None);
            let rows = inserted
                .iter()
                .map(|m| {
                    Ok(Row {
                        id: m.subject_id()?.into_string(),
                        kind: Kind::Created,
                        data: Some(m.snapshot()?),
                        extra: E::Model::changes(None, Some(m))?,
                        before: None::<&E::Model>,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let logged = record::write(&txn, subject_type, &rows, None, &by, step).await?;
            done.add(inserted.len() as u64, logged);
        }
        commit(txn).await?;
        Ok(done)
    }
}

impl<E> UpdateManyAudited<E>
where
    E: EntityTrait,
    E::Model: AuditedModel,
{
    /// Adds a condition, as `QueryFilter::filter` does on `update_many`.
    pub fn filter<F: IntoCondition>(mut self, filter: F) -> Self {
        self.condition = self.condition.add(filter);
        self
    }

    /// Sets a column to an expression, as `update_many().col_expr(..)` does.
    pub fn col_expr<T: Into<SimpleExpr>>(mut self, col: E::Column, expr: T) -> Self {
        self.values.push((col, expr.into()));
        self
    }

    /// Sets every column the ActiveModel `Set`s, as `update_many().set(..)` does.
    pub fn set(mut self, model: E::ActiveModel) -> Self {
        for col in E::Column::iter() {
            if let ActiveValue::Set(value) = model.get(col) {
                self.values.push((col, col.save_as(Expr::val(value))));
            }
        }
        self
    }

    /// Updates the matching rows and logs each changed one; see [`AuditedBulk`]. Refuses an
    /// update of a primary key column ([`Error::BulkKeyUpdate`]).
    pub async fn exec<C>(self, db: &C) -> Result<BulkWrite>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
        if !auditing_on::<E::Model, C>()? {
            return self.plain(db).await;
        }
        check_key_order::<E>()?;
        let keys: Vec<&str> = key_columns::<E>().iter().map(|c| c.as_str()).collect();
        if let Some((col, _)) = self.values.iter().find(|(c, _)| keys.contains(&c.as_str())) {
            return Err(Error::BulkKeyUpdate {
                subject_type,
                column: col.as_str().to_owned(),
            });
        }
        if self.values.is_empty() {
            return Ok(BulkWrite::default());
        }
        let set = self.set_fields();
        let logged = |name: &&str| {
            <E::Model as Audited>::FIELDS.iter().any(|f| {
                f.name == *name && matches!(f.mode, FieldMode::Audited | FieldMode::Redacted)
            })
        };
        if !set.iter().any(logged) {
            // No audited field written (only skipped ones): nothing of its own to log, as a
            // hooked update that sets none logs nothing.
            return self.plain(db).await;
        }
        let extra = redacted(
            <E::Model as Audited>::FIELDS,
            Some(&set),
            Json::from(REDACTED),
        );
        let txn = begin(db).await?;
        let step = id_step(&txn).await?;
        let mut done = BulkWrite::default();
        let mut after = None;
        let backend = txn.get_database_backend();
        let limit = batch_rows::<E>(&self.statement(self.condition.clone()), backend)?;
        while let Some(old) =
            next_batch::<E, _>(&txn, &self.condition, &mut after, limit, true).await?
        {
            // Timed once the batch holds its rows: after the versions it comes after.
            let by = Attribution::current(None, None);
            let before = by_subject_id(&old)?;
            let keys = old.iter().map(key_of::<E>).collect::<Vec<_>>();
            let statement = self.statement(self.condition.clone().add(key_in::<E>(&keys)));
            let (rows, new) = update_batch::<E, _>(&txn, statement, &keys).await?;
            let mut rows_logged = new
                .iter()
                .map(|m| {
                    let id = m.subject_id()?.into_string();
                    Ok(Row {
                        before: before.get(&id).map(|&(_, m)| m),
                        id,
                        kind: Kind::Updated,
                        data: Some(m.snapshot()?),
                        extra: extra.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            // In key order (`RETURNING` gives the rows in the order the update met them):
            // the audit rows then take their index entries in the order every other bulk
            // write and `backfill` take them, and two of those cannot deadlock on them.
            rows_logged.sort_by_key(|r| before.get(&r.id).map_or(usize::MAX, |&(i, _)| i));
            // A row back under a key it was not read with (a trigger changed it; on MySQL,
            // read again by the old keys, it is not found) cannot be logged: no silent gap.
            let moved = rows_logged.iter().filter(|r| r.before.is_none()).count()
                + if returning(&txn) {
                    0
                } else {
                    old.len().saturating_sub(new.len())
                };
            if moved > 0 {
                return Err(Error::BulkKeysMoved {
                    subject_type,
                    rows: moved,
                });
            }
            // Rows read but not updated: kept by a trigger (still found by their keys), or
            // not found by their keys as read back, whose plain update would have written
            // them: those cannot be logged.
            if returning(&txn) && new.len() < old.len() {
                let updated: std::collections::HashSet<&str> =
                    rows_logged.iter().map(|r| r.id.as_str()).collect();
                // (each row's place in the batch, by the subject id read once above)
                let missing: Vec<_> = before
                    .iter()
                    .filter(|(id, _)| !updated.contains(id.as_str()))
                    .map(|(_, &(i, _))| keys[i].clone())
                    .collect();
                let found = find_by_keys::<E, _>(&txn, &missing, false).await?;
                if found.len() < missing.len() {
                    return Err(Error::BulkKeysUnmatched {
                        subject_type,
                        rows: missing.len() - found.len(),
                    });
                }
            }
            let logged =
                record::write(&txn, subject_type, &rows_logged, Some(&set), &by, step).await?;
            done.add(rows, logged);
        }
        commit(txn).await?;
        Ok(done)
    }

    /// The plain `update_many`, logging nothing: the rows it wrote.
    async fn plain<C: ConnectionTrait>(&self, db: &C) -> Result<BulkWrite> {
        let result = self
            .statement(self.condition.clone())
            .exec(db)
            .await
            .map_err(Error::db("running the bulk update"))?;
        Ok(BulkWrite {
            rows: result.rows_affected,
            ..BulkWrite::default()
        })
    }

    /// The plain `update_many` of these values under `condition`.
    fn statement(&self, condition: Condition) -> sea_orm::UpdateMany<E> {
        let mut update = E::update_many();
        for (col, expr) in &self.values {
            update = update.col_expr(*col, expr.clone());
        }
        update.filter(condition)
    }

    /// The fields the update sets, by field name. Each field's column is the entity's own
    /// (see `hooks::column_of`): a column renamed for the whole struct (`rename_all`), in
    /// an expanded entity's `Column`, or by SeaORM (`type_` is the column `type`) has
    /// another name than the field.
    fn set_fields(&self) -> Vec<&'static str> {
        <E::Model as Audited>::FIELDS
            .iter()
            .filter(|f| {
                crate::hooks::column_of::<E>(f)
                    .is_some_and(|col| self.values.iter().any(|(c, _)| c.as_str() == col.as_str()))
            })
            .map(|f| f.name)
            .collect()
    }
}

impl<E> DeleteManyAudited<E>
where
    E: EntityTrait,
    E::Model: AuditedModel,
{
    /// Adds a condition, as `QueryFilter::filter` does on `delete_many`.
    pub fn filter<F: IntoCondition>(mut self, filter: F) -> Self {
        self.condition = self.condition.add(filter);
        self
    }

    /// Deletes the matching rows and logs each one `deleted`; see [`AuditedBulk`].
    pub async fn exec<C>(self, db: &C) -> Result<BulkWrite>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
        if !auditing_on::<E::Model, C>()? {
            let result = E::delete_many()
                .filter(self.condition)
                .exec(db)
                .await
                .map_err(Error::db("running the bulk delete"))?;
            return Ok(BulkWrite {
                rows: result.rows_affected,
                ..BulkWrite::default()
            });
        }
        check_key_order::<E>()?;
        let extra = redacted(<E::Model as Audited>::FIELDS, None, Json::Null);
        let txn = begin(db).await?;
        let step = id_step(&txn).await?;
        let mut done = BulkWrite::default();
        let mut after = None;
        let backend = txn.get_database_backend();
        let limit = batch_rows::<E>(&E::delete_many().filter(self.condition.clone()), backend)?;
        loop {
            let start = after.clone();
            let Some(old) =
                next_batch::<E, _>(&txn, &self.condition, &mut after, limit, false).await?
            else {
                break;
            };
            // Timed once the batch holds its rows: after the versions it comes after.
            let by = Attribution::current(None, None);
            let keys = old.iter().map(key_of::<E>).collect::<Vec<_>>();
            let result = E::delete_many()
                .filter(self.condition.clone().add(key_in::<E>(&keys)))
                .exec(&txn)
                .await
                .map_err(Error::db("running the bulk delete"))?;
            // Fewer rows than were locked: a trigger or rule kept some (a PostgreSQL
            // `BEFORE DELETE` trigger returning NULL, SQLite's `RAISE(IGNORE)`), which are
            // still there and not logged; or a cascade from one of the batch's rows removed
            // another before the statement reached it (SQLite and MySQL cascade row by row
            // and do not count those), which is gone and logged.
            let kept = if result.rows_affected < old.len() as u64 {
                let deleted = result.rows_affected;
                still_there::<E, _>(&txn, &self.condition, start.as_deref(), &old, deleted).await?
            } else {
                Default::default()
            };
            let mut rows = Vec::with_capacity(old.len());
            for m in &old {
                let id = m.subject_id()?.into_string();
                if kept.contains(&id) {
                    continue;
                }
                rows.push(Row {
                    id,
                    kind: Kind::Deleted,
                    data: None,
                    extra: extra.clone(),
                    before: Some(m),
                });
            }
            // Each row the statement deleted was one of the batch's.
            if (rows.len() as u64) < result.rows_affected {
                return Err(Error::BulkKeysUnmatched {
                    subject_type,
                    rows: (result.rows_affected - rows.len() as u64) as usize,
                });
            }
            let logged = record::write(&txn, subject_type, &rows, None, &by, step).await?;
            done.add(result.rows_affected, logged);
        }
        commit(txn).await?;
        Ok(done)
    }
}

/// The subject ids of the rows of a delete's batch (`old`, read after the key `start`)
/// that are still there after its statement (`deleted`: the rows it counted), found by
/// their keys. When more rows are gone than the statement counted, the batch is read
/// again as it was read (by the filter, in key order), which finds a row whatever form its
/// key is stored in: one found so but not by its key is one the statement could not
/// delete, where the plain call would have ([`Error::BulkKeysUnmatched`]); the others
/// went by a cascade from the batch's own rows.
async fn still_there<E, C>(
    db: &C,
    condition: &Condition,
    start: Option<&[Value]>,
    old: &[E::Model],
    deleted: u64,
) -> Result<std::collections::HashSet<String>>
where
    E: EntityTrait,
    E::Model: AuditedModel,
    C: ConnectionTrait,
{
    let subject_ids = |rows: &[E::Model]| -> Result<std::collections::HashSet<String>> {
        rows.iter()
            .map(|m| Ok(m.subject_id()?.into_string()))
            .collect()
    };
    let keys: Vec<Vec<Value>> = old.iter().map(key_of::<E>).collect();
    // Locking reads: on MySQL a plain one reads the transaction's snapshot.
    let kept = subject_ids(&find_by_keys::<E, _>(db, &keys, true).await?)?;
    if (old.len() - kept.len()) as u64 == deleted {
        return Ok(kept);
    }
    let query = E::find().filter(condition.clone());
    let again = in_key_order(query, start, db.get_database_backend())
        .limit(old.len() as u64)
        .lock_exclusive()
        .all(db)
        .await
        .map_err(Error::db("reading the rows of a bulk write"))?;
    let batch = subject_ids(old)?;
    let unmatched = subject_ids(&again)?
        .into_iter()
        .filter(|id| batch.contains(id) && !kept.contains(id))
        .count();
    if unmatched > 0 {
        return Err(Error::BulkKeysUnmatched {
            subject_type: <E::Model as Audited>::SUBJECT_TYPE,
            rows: unmatched,
        });
    }
    Ok(kept)
}

// ---- batches ---------------------------------------------------------------------------

/// The bound on parameters per statement: under SQLite's 32,766 (PostgreSQL and MySQL
/// take 65,535).
pub(crate) const MAX_PARAMS: usize = 30_000;

/// The call's transaction (a savepoint inside the caller's). On MySQL/MariaDB, a call
/// outside a transaction reads at READ COMMITTED: each batch's reads (a filter's subqueries
/// on other tables, the latest versions) see what was committed when the batch starts, as
/// the one statement of the plain call would, not the snapshot its first batch took
/// (InnoDB's REPEATABLE READ). Inside a transaction, they read its snapshot; so they do on
/// a server that logs statements (`binlog_format = STATEMENT`), which refuses InnoDB writes
/// at READ COMMITTED.
async fn begin<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<C::Transaction> {
    const CONTEXT: &str = "beginning the bulk write's transaction";
    if db.get_database_backend() == DbBackend::MySql
        && crate::hooks::is_plain_connection::<C>()
        && !logs_statements(db).await?
    {
        return db
            .begin_with_config(Some(sea_orm::IsolationLevel::ReadCommitted), None)
            .await
            .map_err(Error::db(CONTEXT));
    }
    crate::transaction::begin_own(db)
        .await
        .map_err(Error::db(CONTEXT))
}

/// MySQL/MariaDB: whether the server's binary log records statements (`binlog_format =
/// STATEMENT`) rather than rows.
async fn logs_statements<C: ConnectionTrait>(db: &C) -> Result<bool> {
    const CONTEXT: &str = "reading the server's binlog format";
    let sql = "SELECT @@SESSION.binlog_format AS format";
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(DbBackend::MySql, sql))
        .await
        .map_err(Error::db(CONTEXT))?;
    let format: Option<String> = match row {
        Some(row) => row.try_get("", "format").map_err(Error::db(CONTEXT))?,
        None => None,
    };
    Ok(format.is_some_and(|f| f.eq_ignore_ascii_case("STATEMENT")))
}

async fn commit<T: TransactionSession>(txn: T) -> Result<()> {
    txn.commit()
        .await
        .map_err(Error::db("committing the bulk write"))
}

fn key_columns<E: EntityTrait>() -> Vec<E::Column> {
    E::PrimaryKey::iter().map(|pk| pk.into_column()).collect()
}

fn key_of<E: EntityTrait>(model: &E::Model) -> Vec<Value> {
    key_columns::<E>()
        .into_iter()
        .map(|c| model.get(c))
        .collect()
}

/// A key value as its column takes one (`ColumnTrait::save_as`: cast to a native enum
/// type on PostgreSQL, as SeaORM's own statements do).
fn key_value<C: ColumnTrait>(col: C, value: &Value) -> SimpleExpr {
    col.save_as(Expr::val(value.clone()))
}

/// `key IN (…)` of these keys.
fn key_in<E: EntityTrait>(keys: &[Vec<Value>]) -> SimpleExpr {
    let cols = key_columns::<E>();
    if let [col] = cols.as_slice() {
        return Expr::col((E::default(), *col)).is_in(keys.iter().map(|k| key_value(*col, &k[0])));
    }
    Expr::tuple(cols.iter().map(|c| Expr::col((E::default(), *c)))).is_in(
        keys.iter()
            .map(|k| Expr::tuple(cols.iter().zip(k).map(|(c, v)| key_value(*c, v)))),
    )
}

/// Whether the column is declared a native enum.
fn is_enum<C: ColumnTrait>(col: C) -> bool {
    matches!(
        col.def().get_column_type(),
        sea_orm::ColumnType::Enum { .. }
    )
}

/// A key column as the batches order and compare it. MySQL orders an `ENUM` by its
/// members' declared positions but compares it with a string as text, so a keyset step
/// would read rows again: there both sides are its text.
fn key_order<E: EntityTrait>(col: E::Column, backend: DbBackend) -> SimpleExpr {
    let expr = Expr::col((E::default(), col));
    if backend == DbBackend::MySql && is_enum(col) {
        expr.cast_as(sea_orm::sea_query::Alias::new("CHAR"))
    } else {
        expr
    }
}

/// The last key read, as a keyset step compares a key column with it (see
/// [`key_order`]): on MySQL a native enum's text; elsewhere the value as the column takes
/// one ([`key_value`]). On PostgreSQL a string goes in as a literal of no type, which takes
/// the column's: a bound string is `text`, and a column of another text-like type (a
/// `citext` declared as a plain `String`) would then be compared as `text` (case and
/// all) while `ORDER BY` orders it by its own type, and a step would skip rows or read
/// them again.
fn last_key_value<C: ColumnTrait>(col: C, value: &Value, backend: DbBackend) -> SimpleExpr {
    match (backend, value) {
        (DbBackend::MySql, _) if is_enum(col) => Expr::val(value.clone()),
        (DbBackend::Postgres, Value::String(Some(s))) => col.save_as(postgres_literal(s)),
        (DbBackend::Postgres, Value::Char(Some(c))) => {
            col.save_as(postgres_literal(&c.to_string()))
        }
        _ => key_value(col, value),
    }
}

/// `s` as a PostgreSQL string literal of no type, which the server reads alike whatever
/// its `standard_conforming_strings` and `backslash_quote` say: a quote doubled, and a
/// backslash doubled inside an `E''` literal. (sea-query writes a quote as `\'`, which a
/// server with `backslash_quote = off` refuses, and a `char` as its low byte.)
fn postgres_literal(s: &str) -> SimpleExpr {
    let quoted = s.replace('\'', "''");
    Expr::cust(if s.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    })
}

/// The most parameters one statement may carry: SQLite's default
/// `SQLITE_MAX_VARIABLE_NUMBER`, and the 16-bit count of PostgreSQL's and MySQL's protocols.
fn param_limit(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 32_766,
        _ => 65_535,
    }
}

/// Rows per batch of a bulk update or delete: [`BulkWrite::BATCH`], or fewer when the
/// call's own statement (`plain`: its filter and values) leaves less room than a batch's
/// keys take, since each batch's statement carries both. A call whose own statement is
/// already over the limit fails as the plain call would; one that fits but leaves no room
/// for a batch's read (its filter, the last key read and the batch's size) is
/// [`Error::InvalidArgument`], before anything is written.
fn batch_rows<E: EntityTrait>(plain: &impl QueryTrait, backend: DbBackend) -> Result<u64> {
    let own = plain.build(backend).values.map_or(0, |v| v.0.len());
    let per_row = key_columns::<E>().len().max(1);
    let limit = param_limit(backend);
    if own <= limit && own + per_row + 1 > limit {
        return Err(Error::InvalidArgument(format!(
            "the call's filter and values carry {own} parameters: a batch's read adds \
             {} more, over the {limit} a statement may carry; split the call",
            per_row + 1
        )));
    }
    Ok(((limit.saturating_sub(own) / per_row) as u64).clamp(1, BulkWrite::BATCH))
}

/// Rows per insert statement: a batch, or fewer for wide tables.
fn insert_rows<E: EntityTrait>() -> usize {
    let columns = E::Column::iter().count().max(1);
    (MAX_PARAMS / columns).clamp(1, BulkWrite::BATCH as usize)
}

/// `query` in primary key order, from after the key `after` (a keyset page): the order
/// and the comparison agree on every backend (see [`key_order`]), and a native enum key
/// is compared as its type.
pub(crate) fn in_key_order<E: EntityTrait>(
    mut query: sea_orm::Select<E>,
    after: Option<&[Value]>,
    backend: DbBackend,
) -> sea_orm::Select<E> {
    let cols = key_columns::<E>();
    for col in &cols {
        query = query.order_by_asc(key_order::<E>(*col, backend));
    }
    if let Some(last) = after {
        let key = Expr::tuple(cols.iter().map(|c| key_order::<E>(*c, backend)));
        let last = cols
            .iter()
            .zip(last)
            .map(|(c, v)| last_key_value(*c, v, backend));
        query = query.filter(key.gt(Expr::tuple(last)));
    }
    query
}

/// The next batch of at most `limit` rows matching `condition` after the key `after`, in
/// key order, locked as the write will lock them (`None` when there are no more).
///
/// On PostgreSQL, rows a batch updates are locked `FOR NO KEY UPDATE`, the lock the plain
/// `UPDATE` of them takes: `FOR UPDATE` would also keep out every foreign key check on them
/// (an insert of a row that references one) until the call commits, which the plain
/// `update_many` does not.
async fn next_batch<E, C>(
    db: &C,
    condition: &Condition,
    after: &mut Option<Vec<Value>>,
    limit: u64,
    update: bool,
) -> Result<Option<Vec<E::Model>>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    use sea_orm::sea_query::LockType;
    let backend = db.get_database_backend();
    let lock = if update && backend == DbBackend::Postgres {
        LockType::NoKeyUpdate
    } else {
        LockType::Update
    };
    let query = E::find().filter(condition.clone());
    let rows = in_key_order(query, after.as_deref(), backend)
        .limit(limit)
        .lock(lock)
        .all(db)
        .await
        .map_err(Error::db("reading the rows of a bulk write"))?;
    let Some(last) = rows.last() else {
        return Ok(None);
    };
    *after = Some(key_of::<E>(last));
    Ok(Some(rows))
}

/// The rows by subject id, with their place in `rows`.
fn by_subject_id<M: AuditedModel>(rows: &[M]) -> Result<HashMap<String, (usize, &M)>> {
    rows.iter()
        .enumerate()
        .map(|(i, m)| Ok((m.subject_id()?.into_string(), (i, m))))
        .collect()
}

/// Whether the bulk statements may use `RETURNING`: where the backend has it for every
/// statement they run (MariaDB with SeaORM's `mariadb-use-returning` has it for `INSERT`
/// and `DELETE` only, and takes MySQL's path).
pub(super) fn returning<C: ConnectionTrait>(db: &C) -> bool {
    db.support_returning() && db.get_database_backend() != DbBackend::MySql
}

/// The rows with these keys, as stored.
pub(crate) async fn find_by_keys<E, C>(
    db: &C,
    keys: &[Vec<Value>],
    lock: bool,
) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut find = E::find().filter(key_in::<E>(keys));
    if lock {
        find = find.lock_exclusive();
    }
    find.all(db)
        .await
        .map_err(Error::db("reading the rows of a bulk write"))
}

/// Runs one batch's update: the rows written and the rows as they are now (`RETURNING`
/// where the backend has it, else read again by key).
async fn update_batch<E, C>(
    db: &C,
    statement: sea_orm::UpdateMany<E>,
    keys: &[Vec<Value>],
) -> Result<(u64, Vec<E::Model>)>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    const CONTEXT: &str = "running the bulk update";
    if returning(db) {
        let new = statement
            .exec_with_returning(db)
            .await
            .map_err(Error::db(CONTEXT))?;
        return Ok((new.len() as u64, new));
    }
    let result = statement.exec(db).await.map_err(Error::db(CONTEXT))?;
    // A locking read: MySQL leaves a row the update matched but did not change as it was,
    // and a plain read would give it as the transaction's snapshot has it, which may
    // predate a commit that the batch's own locking read saw.
    let now = E::find()
        .filter(key_in::<E>(keys))
        .lock_exclusive()
        .all(db)
        .await
        .map_err(Error::db("reading the rows of a bulk write"))?;
    Ok((result.rows_affected, now))
}

/// Inserts one batch and returns the rows as stored.
async fn insert_batch<E, C>(
    db: &C,
    models: Vec<E::ActiveModel>,
    step: Option<u64>,
) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Audited,
    C: ConnectionTrait,
{
    const CONTEXT: &str = "running the bulk insert";
    if returning(db) {
        return E::insert_many(models)
            .exec_with_returning(db)
            .await
            .map_err(Error::db(CONTEXT));
    }
    // No `RETURNING` (MySQL). Keys the models set are known; generated ones are numbered
    // from the first id when the server hands out consecutive ids to a multi-row insert.
    let cols = key_columns::<E>();
    let auto_increment = cols.len() == 1 && <E::PrimaryKey as PrimaryKeyTrait>::auto_increment();
    let set_key = |am: &E::ActiveModel| -> Option<Vec<Value>> {
        cols.iter()
            .map(|c| match am.get(*c) {
                // MySQL generates the key for a 0 as for no value (unless `sql_mode` has
                // NO_AUTO_VALUE_ON_ZERO, which the count check below catches).
                ActiveValue::Set(v) | ActiveValue::Unchanged(v)
                    if auto_increment && is_zero(&v) =>
                {
                    None
                }
                ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Some(v),
                ActiveValue::NotSet => None,
            })
            .collect()
    };
    let inserted = models.len();
    // Every row inserted must be found again by its key, or it would go unlogged.
    let found = |rows: Vec<E::Model>| {
        if rows.len() == inserted {
            return Ok(rows);
        }
        Err(Error::BulkKeysChanged {
            subject_type: <E::Model as Audited>::SUBJECT_TYPE,
            inserted,
            found: rows.len(),
        })
    };
    let given: Option<Vec<Vec<Value>>> = models.iter().map(set_key).collect();
    if let Some(keys) = given {
        E::insert_many(models)
            .exec_without_returning(db)
            .await
            .map_err(Error::db(CONTEXT))?;
        return found(find_by_keys::<E, _>(db, &keys, false).await?);
    }
    let generated = db.get_database_backend() == DbBackend::MySql
        && auto_increment
        && models.iter().all(|am| set_key(am).is_none());
    if generated && let Some(step) = step {
        let n = models.len() as u64;
        let insert = E::insert_many(models).into_query();
        let first = db
            .execute(&insert)
            .await
            .map_err(Error::db(CONTEXT))?
            .last_insert_id();
        let keys: Vec<Vec<Value>> = (0..n).map(|i| vec![(first + i * step).into()]).collect();
        return found(find_by_keys::<E, _>(db, &keys, false).await?);
    }
    // Otherwise one statement per row, each telling its key.
    let mut keys = Vec::with_capacity(models.len());
    for am in models {
        let key = E::insert(am)
            .exec(db)
            .await
            .map_err(Error::db(CONTEXT))?
            .last_insert_id;
        keys.push(
            sea_orm::sea_query::IntoValueTuple::into_value_tuple(key)
                .into_iter()
                .collect(),
        );
    }
    found(find_by_keys::<E, _>(db, &keys, false).await?)
}

/// Whether a key value is an integer zero.
fn is_zero(value: &Value) -> bool {
    matches!(
        value,
        Value::TinyInt(Some(0))
            | Value::SmallInt(Some(0))
            | Value::Int(Some(0))
            | Value::BigInt(Some(0))
            | Value::TinyUnsigned(Some(0))
            | Value::SmallUnsigned(Some(0))
            | Value::Unsigned(Some(0))
            | Value::BigUnsigned(Some(0))
    )
}

tokio::task_local! {
    /// Set in scope of [`reading_back_bulk_ids`].
    static READ_BACK_IDS: ();
}

/// Runs `fut` with its MySQL/MariaDB bulk writes reading their versions' ids back, as they
/// do under `innodb_autoinc_lock_mode = 2` (MySQL 8's default), on a server whose ids are
/// consecutive (tests of that path on such a server; other tasks are not affected).
#[doc(hidden)]
pub async fn reading_back_bulk_ids<F: Future>(fut: F) -> F::Output {
    READ_BACK_IDS.scope((), fut).await
}

/// MySQL: the step between the ids of one multi-row insert, when the server guarantees
/// they are consecutive (`innodb_autoinc_lock_mode` 0 or 1); `None` under mode 2, where
/// concurrent inserts interleave, and on backends that return the ids (asked nothing).
/// Read once per call.
async fn id_step<C: ConnectionTrait>(db: &C) -> Result<Option<u64>> {
    const CONTEXT: &str = "reading the server's auto-increment settings";
    if returning(db)
        || db.get_database_backend() != DbBackend::MySql
        || READ_BACK_IDS.try_with(|()| ()).is_ok()
    {
        return Ok(None);
    }
    let row = crate::write::one_row(
        db,
        sea_orm::Statement::from_string(
            DbBackend::MySql,
            "SELECT CAST(@@innodb_autoinc_lock_mode AS SIGNED) AS mode, \
             CAST(@@auto_increment_increment AS SIGNED) AS step",
        ),
        CONTEXT,
    )
    .await?;
    let mode: i64 = row.try_get("", "mode").map_err(Error::db(CONTEXT))?;
    let step: i64 = row.try_get("", "step").map_err(Error::db(CONTEXT))?;
    Ok((mode <= 1 && step >= 1).then_some(step as u64))
}

/// The plain `insert_many`, in statements under the parameter limit; more than one in a
/// transaction of their own, so that, as the one statement of the plain call, they insert
/// all the rows or none.
async fn insert_plain<E, C, I>(db: &C, models: I) -> Result<BulkWrite>
where
    E: EntityTrait,
    C: ConnectionTrait + TransactionTrait,
    I: Iterator<Item = E::ActiveModel>,
{
    const CONTEXT: &str = "running the bulk insert";
    let mut models = models.peekable();
    let first: Vec<_> = models.by_ref().take(insert_rows::<E>()).collect();
    if models.peek().is_none() {
        let rows = match first.is_empty() {
            true => 0,
            false => E::insert_many(first)
                .exec_without_returning(db)
                .await
                .map_err(Error::db(CONTEXT))?,
        };
        return Ok(BulkWrite {
            rows,
            ..BulkWrite::default()
        });
    }
    let txn = begin(db).await?;
    let mut rows = E::insert_many(first)
        .exec_without_returning(&txn)
        .await
        .map_err(Error::db(CONTEXT))?;
    while models.peek().is_some() {
        let chunk: Vec<_> = models.by_ref().take(insert_rows::<E>()).collect();
        rows += E::insert_many(chunk)
            .exec_without_returning(&txn)
            .await
            .map_err(Error::db(CONTEXT))?;
    }
    commit(txn).await?;
    Ok(BulkWrite {
        rows,
        ..BulkWrite::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    mod tag {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "tags")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
            pub name: String,
            #[sea_orm(primary_key, auto_increment = false)]
            pub code: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// A keyset step compares each key column with the last key as the column takes a
    /// value: through its `save_as` on every backend, and on PostgreSQL a string as a
    /// literal of no type, which takes the column's (a bound one is `text`).
    #[test]
    fn a_keyset_step_compares_keys_as_their_columns_take_them() {
        let after = [Value::from("b"), Value::from("B")];
        let sql = |backend| {
            in_key_order(tag::Entity::find(), Some(&after), backend)
                .build(backend)
                .sql
        };
        let postgres = sql(DbBackend::Postgres);
        assert!(
            postgres.contains(r#"("tags"."name", "tags"."code") > (CAST(('b') AS citext), 'B')"#),
            "{postgres}"
        );
        let mysql = sql(DbBackend::MySql);
        assert!(
            mysql.contains("(`tags`.`name`, `tags`.`code`) > (CAST(? AS citext), ?)"),
            "{mysql}"
        );
        let after = [Value::from(r"o'k\"), Value::from("it's")];
        let postgres = in_key_order(tag::Entity::find(), Some(&after), DbBackend::Postgres)
            .build(DbBackend::Postgres)
            .sql;
        assert!(
            postgres.contains(r#"> (CAST((E'o''k\\') AS citext), 'it''s')"#),
            "{postgres}"
        );
    }
}
