//! The audit rows of one batch of a bulk write: the rows' latest versions read in one
//! query, each row planned as a hooked write is ([`plan`]), then the versions in
//! multi-row inserts and the entries in multi-row inserts.
//!
//! The inserts are built here rather than with sea-query: a batch is thousands of values,
//! most of them JSON documents, and building them as expressions copies each one twice
//! more on its way to the driver.

use std::collections::HashMap;

use audit_core::{Audited, Changes};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, SqlErr, Statement, Value};
use serde_json::{Map, Value as Json};

use super::MAX_PARAMS;
use crate::dialect::{self, Attribution};
use crate::entity::{table_names, versions};
use crate::trail::plan::{BASELINE, DRIFT, Hooked, Kind, Latest, Plan, plan};
use crate::{Error, Result};

/// One affected row of a batch.
pub(super) struct Row<'a, M> {
    pub id: String,
    pub kind: Kind,
    /// The audited fields after the write (`None` for a delete).
    pub data: Option<Map<String, Json>>,
    /// Changes computed from the model: a create's diff, the redacted fields.
    pub extra: Changes,
    /// The row before the write (updates and deletes): the baseline of a row that has no
    /// version yet.
    pub before: Option<&'a M>,
}

/// A row's plan: the baseline version to write first (a row older than its trail), then
/// what the write adds.
struct Planned<'a> {
    id: &'a str,
    kind: Kind,
    baseline: Option<Map<String, Json>>,
    plan: Plan,
}

/// Writes the audit rows of `rows` (all of `subject_type`); the entries and versions
/// written.
pub(super) async fn write<M: Audited, C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    rows: &[Row<'_, M>],
    set: Option<&[&'static str]>,
    by: &Attribution,
    step: Option<u64>,
) -> Result<(u64, u64)> {
    let backend = db.get_database_backend();
    for row in rows {
        dialect::check_subject_id(backend, (subject_type, &row.id))?;
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    // MySQL reads the latest versions without locks (see `dialect::mysql`); a number taken
    // meanwhile fails the insert (InnoDB rolls back only that statement), and a locking
    // read, which sees the latest commit, plans again. On PostgreSQL the rows' locks keep
    // other writers out, but not a `backfill`, which inserts baselines without locking
    // rows: one it commits between the read and the insert fails the insert (in a
    // savepoint), and a new read, which sees it, plans again.
    let mut lock = false;
    let mut replans = 0;
    loop {
        let mut latest = latest(db, subject_type, &ids, lock).await?;
        if backend == DbBackend::MySql && !lock {
            // A row the snapshot's latest version says the write leaves as it was may
            // have a newer version that the write changes back: only a locking read,
            // which sees the latest commit, can say it changed nothing.
            let unchanged: Vec<&str> = plan_rows(rows, &latest, set)?
                .into_iter()
                .filter(|p| p.baseline.is_none() && p.plan.version.is_none())
                .map(|p| p.id)
                .collect();
            for id in unchanged {
                match dialect::latest(db, subject_type, id, true).await? {
                    Some(found) => latest.insert(id.to_owned(), found),
                    None => latest.remove(id),
                };
            }
        }
        let mut planned = plan_rows(rows, &latest, set)?;
        match insert_versions(db, subject_type, &mut planned, by, step).await {
            Ok(ids) => {
                let entries = insert_entries(db, subject_type, &planned, by, &ids).await?;
                return Ok((entries, ids.len() as u64));
            }
            Err(e)
                if backend == DbBackend::MySql
                    && !lock
                    && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
            {
                lock = true;
            }
            Err(e)
                if backend == DbBackend::Postgres
                    && replans < MAX_REPLANS
                    && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
            {
                replans += 1;
                tracing::debug!(
                    target: "audit_seaorm::bulk",
                    subject_type,
                    "a version number of the batch was taken meanwhile: planning again"
                );
            }
            Err(e) => return Err(Error::db("writing the versions of a bulk write")(e)),
        }
    }
}

/// How many times a PostgreSQL batch is planned again after its versions' insert met a
/// number taken meanwhile (each time, a `backfill` batch committed baselines of its rows).
const MAX_REPLANS: u32 = 4;

/// The latest version of each subject, by subject id: one query, or with `lock` one
/// locking read per subject (MySQL's retry: a derived table of the latest numbers would
/// be read from the transaction's snapshot, locks or not).
async fn latest<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    ids: &[String],
    lock: bool,
) -> Result<HashMap<String, Latest>> {
    let mut latest = HashMap::with_capacity(ids.len());
    if lock {
        for id in ids {
            if let Some(found) = dialect::latest(db, subject_type, id, true).await? {
                latest.insert(id.clone(), found);
            }
        }
        return Ok(latest);
    }
    let rows = crate::history::latest_versions(db, subject_type, ids, None).await?;
    for row in rows {
        let v = crate::api::version_from_row(row)?;
        let latest_version = Latest {
            version: v.version,
            event: v.event.into(),
            data: v.data,
        };
        latest.insert(v.subject_id.into_string(), latest_version);
    }
    Ok(latest)
}

fn plan_rows<'a, M: Audited>(
    rows: &'a [Row<'_, M>],
    latest: &HashMap<String, Latest>,
    set: Option<&[&'static str]>,
) -> Result<Vec<Planned<'a>>> {
    let mut planned = Vec::with_capacity(rows.len());
    for row in rows {
        let found = latest.get(&row.id);
        // A row with no version yet: the state read before the write is its baseline.
        let baseline = match (found, row.kind, row.before) {
            (None, Kind::Updated | Kind::Deleted, Some(before)) => Some(before.snapshot()?),
            _ => None,
        };
        let from_baseline = baseline.clone().map(|data| Latest {
            version: 1,
            event: BASELINE.to_owned(),
            data,
        });
        let write = Hooked {
            kind: row.kind,
            action: row.kind.as_str(),
            data: row.data.as_ref(),
            set,
            extra: &row.extra,
            force: false,
        };
        // A row the trail says was deleted, found in the table: inserted again outside the
        // trail. Its return is drift (every field from `null`, no causer), and the write is
        // planned against the row as read.
        let returned = match (found, row.kind, row.before) {
            (Some(l), Kind::Updated | Kind::Deleted, Some(before)) if !l.alive() => Some(Latest {
                version: l.version,
                event: DRIFT.to_owned(),
                data: before.snapshot()?,
            }),
            _ => None,
        };
        // Every update and delete carries the row read before it, so a plan always has
        // its old state.
        let base = returned.as_ref().or(found).or(from_baseline.as_ref());
        let mut plan = plan(&write, base).unwrap_or_default();
        if let Some(returned) = returned {
            plan = with_return(plan, returned);
        }
        planned.push(Planned {
            id: &row.id,
            kind: row.kind,
            baseline,
            plan,
        });
    }
    Ok(planned)
}

/// `plan` of a write to a row that came back outside the trail (`returned`: the row as
/// read, numbered as the trail's `deleted` version): the return first, as drift, then the
/// write's own changes; a version that says the row exists even when the write changes
/// nothing.
fn with_return(mut plan: Plan, returned: Latest) -> Plan {
    let mut drift = Changes::new();
    for (field, value) in &returned.data {
        if !value.is_null() {
            drift.insert(field.clone(), Json::Null, value.clone());
        }
    }
    if let Some(later) = plan.drift.take() {
        for (field, change) in later.iter() {
            drift.insert(field, Json::Null, change.new.clone());
        }
    }
    if !drift.is_empty() {
        plan.drift = Some(drift);
    }
    if plan.version.is_none() {
        plan.version = Some((returned.version + 1, DRIFT.to_owned(), returned.data));
    }
    plan
}

/// A multi-row `INSERT` of `rows` into `table`, `returning` these columns if given.
fn insert_statement(
    backend: DbBackend,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
    returning: Option<&str>,
) -> Statement {
    let (quote, numbered) = match backend {
        DbBackend::MySql => ('`', false),
        DbBackend::Postgres => ('"', true),
        _ => ('"', false),
    };
    let mut sql = format!("INSERT INTO {quote}{table}{quote} (");
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("{quote}{c}{quote}"));
    }
    sql.push_str(") VALUES ");
    let mut values = Vec::with_capacity(rows.len() * columns.len());
    for (r, row) in rows.into_iter().enumerate() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for (i, v) in row.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            values.push(v);
            if numbered {
                sql.push_str(&format!("${}", values.len()));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    if let Some(returning) = returning {
        sql.push_str(" RETURNING ");
        sql.push_str(returning);
    }
    Statement::from_sql_and_values(backend, sql, values)
}

/// The bytes of values one statement carries at most (about: see [`value_len`]), besides
/// [`MAX_PARAMS`]: MySQL refuses a packet over `max_allowed_packet` (16 MiB by default on
/// MariaDB), and a bulk update of wide rows writes far more than its own small `UPDATE`.
pub(crate) const MAX_STATEMENT_BYTES: usize = 4 << 20;

/// `rows` split into statements of at most [`MAX_PARAMS`] parameters and about
/// [`MAX_STATEMENT_BYTES`] of values (a row larger than that goes alone).
fn chunks(rows: Vec<Vec<Value>>, per_row: usize) -> Vec<Vec<Vec<Value>>> {
    let per_statement = (MAX_PARAMS / per_row).max(1);
    let mut out: Vec<Vec<Vec<Value>>> = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let len: usize = row.iter().map(value_len).sum();
        match out.last_mut() {
            Some(chunk) if chunk.len() < per_statement && bytes + len <= MAX_STATEMENT_BYTES => {
                bytes += len;
                chunk.push(row);
            }
            _ => {
                bytes = len;
                out.push(vec![row]);
            }
        }
    }
    out
}

/// About how many bytes a value takes on the wire (JSON as its compact text, escapes
/// aside).
pub(crate) fn value_len(value: &Value) -> usize {
    fn json_len(j: &Json) -> usize {
        match j {
            Json::Null | Json::Bool(_) => 5,
            Json::Number(_) => 24,
            Json::String(s) => s.len() + 2,
            Json::Array(items) => 2 + items.iter().map(|v| json_len(v) + 1).sum::<usize>(),
            Json::Object(map) => {
                2 + map
                    .iter()
                    .map(|(k, v)| k.len() + 4 + json_len(v))
                    .sum::<usize>()
            }
        }
    }
    match value {
        Value::String(Some(s)) => s.len(),
        Value::Json(Some(j)) => json_len(j),
        _ => 8,
    }
}

fn text(s: Option<&str>) -> Value {
    Value::String(s.map(str::to_owned))
}

/// The ids of the versions written, by (subject id, number).
type VersionIds = HashMap<(String, i64), i64>;

const VERSION_COLUMNS: [&str; 7] = [
    "subject_type",
    "subject_id",
    "version",
    "event",
    "data",
    "causer_id",
    "created_at",
];

/// Inserts the planned versions (the data moves out of the plans); their ids.
async fn insert_versions<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    planned: &mut [Planned<'_>],
    by: &Attribution,
    step: Option<u64>,
) -> std::result::Result<VersionIds, DbErr> {
    let backend = db.get_database_backend();
    let mut rows = Vec::new();
    let mut keys = Vec::new();
    let mut push = |id: &str, number: i64, event: &str, data: Map<String, Json>| {
        keys.push((id.to_owned(), number));
        let causer = match event {
            BASELINE | DRIFT => None,
            _ => by.causer_id.as_deref(),
        };
        rows.push(vec![
            text(Some(subject_type)),
            text(Some(id)),
            Value::BigInt(Some(number)),
            text(Some(event)),
            Value::Json(Some(Box::new(Json::Object(data)))),
            text(causer),
            dialect::time_value(by.created_at, backend),
        ]);
    };
    for p in planned.iter_mut() {
        if let Some(baseline) = p.baseline.take() {
            push(p.id, 1, BASELINE, baseline);
        }
        if let Some((number, event, data)) = &mut p.plan.version {
            push(p.id, *number, event, std::mem::take(data));
        }
    }
    let chunks = chunks(rows, VERSION_COLUMNS.len());
    // A number taken meanwhile plans the batch again (see `write`): the statements before
    // the one that failed must go too, and PostgreSQL aborts the whole transaction on an
    // error outside a savepoint.
    let savepoint = match backend {
        DbBackend::MySql => chunks.len() > 1,
        DbBackend::Postgres => true,
        _ => false,
    };
    if savepoint {
        db.execute_unprepared("SAVEPOINT audit_bulk_versions")
            .await?;
    }
    let written = version_statements(db, subject_type, chunks, keys, step).await;
    if savepoint {
        match &written {
            Ok(_) => {
                db.execute_unprepared("RELEASE SAVEPOINT audit_bulk_versions")
                    .await?;
            }
            // The statement's own error is the one to return: after a deadlock InnoDB has
            // rolled back the whole transaction, savepoint included, and a caller that
            // retries deadlocks must see it as one.
            Err(_) => {
                let _ = db
                    .execute_unprepared("ROLLBACK TO SAVEPOINT audit_bulk_versions")
                    .await;
            }
        }
    }
    written
}

/// Sends the versions' inserts, `keys` naming their rows in order; their ids.
async fn version_statements<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    chunks: Vec<Vec<Vec<Value>>>,
    keys: Vec<(String, i64)>,
    step: Option<u64>,
) -> std::result::Result<VersionIds, DbErr> {
    let backend = db.get_database_backend();
    let mut ids = VersionIds::with_capacity(keys.len());
    let table = &table_names().versions;
    let returning = super::returning(db);
    // Without `RETURNING` (MySQL): a multi-row insert's ids are consecutive from the first
    // when the server says so (`step`, see `id_step`); else they are read back.
    let mut keys = keys.into_iter();
    for chunk in chunks {
        let chunk_keys: Vec<(String, i64)> = keys.by_ref().take(chunk.len()).collect();
        let returns = returning.then_some(r#""id", "subject_id", "version""#);
        let insert = insert_statement(backend, table, &VERSION_COLUMNS, chunk, returns);
        if returning {
            for row in db.query_all_raw(insert).await? {
                let id: i64 = row.try_get("", "id")?;
                let subject_id: String = row.try_get("", "subject_id")?;
                let number: i64 = row.try_get("", "version")?;
                ids.insert((subject_id, number), id);
            }
            continue;
        }
        let first = db.execute_raw(insert).await?.last_insert_id() as i64;
        match step {
            Some(step) => {
                for (i, key) in chunk_keys.into_iter().enumerate() {
                    ids.insert(key, first + i as i64 * step as i64);
                }
            }
            None => ids.extend(read_ids(db, subject_type, &chunk_keys).await?),
        }
    }
    Ok(ids)
}

/// The ids of these versions of `subject_type`, read back: each by its whole key in the
/// unique index (what is read is one row per version written, however long the subjects'
/// histories; three parameters a version, within every limit for a chunk's rows).
async fn read_ids<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    keys: &[(String, i64)],
) -> std::result::Result<VersionIds, DbErr> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect};
    use versions::Column as V;
    let found: Vec<(i64, String, i64)> = versions::Entity::find()
        .select_only()
        .columns([V::Id, V::SubjectId, V::Version])
        .filter(
            Expr::tuple([
                Expr::col(V::SubjectType),
                Expr::col(V::SubjectId),
                Expr::col(V::Version),
            ])
            .in_tuples(
                keys.iter()
                    .map(|(id, n)| (subject_type.to_owned(), id.clone(), *n)),
            ),
        )
        .into_tuple()
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .map(|(id, subject, number)| ((subject, number), id))
        .collect())
}

const ENTRY_COLUMNS: [&str; 11] = [
    "action",
    "subject_type",
    "subject_id",
    "causer_id",
    "changes",
    "properties",
    "ip",
    "user_agent",
    "request_id",
    "version_id",
    "created_at",
];

/// Inserts each plan's drift entry and own entry, in that order; how many.
async fn insert_entries<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    planned: &[Planned<'_>],
    by: &Attribution,
    ids: &VersionIds,
) -> Result<u64> {
    let backend = db.get_database_backend();
    let at = by.created_at;
    let mut rows = Vec::new();
    for p in planned {
        if let Some(drift) = &p.plan.drift {
            let subject = (subject_type, p.id);
            rows.push(dialect::entry_values(
                subject, DRIFT, drift, None, None, at, backend,
            ));
        }
        if let (Some(own), Some((number, _, _))) = (&p.plan.entry, &p.plan.version) {
            let version = ids.get(&(p.id.to_owned(), *number)).copied();
            rows.push(dialect::entry_values(
                (subject_type, p.id),
                p.kind.as_str(),
                own,
                Some(by),
                version,
                at,
                backend,
            ));
        }
    }
    let written = rows.len() as u64;
    let table = &table_names().activity_log;
    for chunk in chunks(rows, ENTRY_COLUMNS.len()) {
        db.execute_raw(insert_statement(
            backend,
            table,
            &ENTRY_COLUMNS,
            chunk,
            None,
        ))
        .await
        .map_err(Error::db("writing the activity entries of a bulk write"))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_stay_under_the_parameter_limit() {
        let rows = vec![vec![Value::Int(Some(1)); 11]; 7_000];
        let split = chunks(rows, 11);
        assert_eq!(split.len(), 3);
        assert!(split.iter().all(|c| c.len() * 11 <= MAX_PARAMS));
        assert_eq!(split.iter().map(Vec::len).sum::<usize>(), 7_000);
    }

    #[test]
    fn statements_stay_under_the_byte_budget() {
        let doc = |n: usize| Value::Json(Some(Box::new(Json::String("x".repeat(n)))));
        // 100 rows of ~100 KiB: a few per statement, none over the budget.
        let rows = vec![vec![Value::Int(Some(1)), doc(100 << 10)]; 100];
        let split = chunks(rows, 2);
        assert!(split.len() >= 3, "{}", split.len());
        for chunk in &split {
            let bytes: usize = chunk.iter().flatten().map(value_len).sum();
            assert!(bytes <= MAX_STATEMENT_BYTES, "{bytes}");
        }
        assert_eq!(split.iter().map(Vec::len).sum::<usize>(), 100);
        // A row over the budget goes alone, between the others.
        let rows = vec![
            vec![doc(10)],
            vec![doc(MAX_STATEMENT_BYTES + 1)],
            vec![doc(10)],
            vec![doc(10)],
        ];
        let sizes: Vec<usize> = chunks(rows, 1).iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 1, 2]);
    }

    #[test]
    fn placeholders_follow_the_backend() {
        let rows = vec![vec![Value::Int(Some(1)), Value::Int(Some(2))]; 2];
        let pg = insert_statement(
            DbBackend::Postgres,
            "t",
            &["a", "b"],
            rows.clone(),
            Some("\"a\""),
        );
        assert_eq!(
            pg.sql,
            r#"INSERT INTO "t" ("a", "b") VALUES ($1, $2), ($3, $4) RETURNING "a""#
        );
        let my = insert_statement(DbBackend::MySql, "t", &["a", "b"], rows, None);
        assert_eq!(my.sql, "INSERT INTO `t` (`a`, `b`) VALUES (?, ?), (?, ?)");
        assert_eq!(my.values.unwrap().0.len(), 4);
    }
}
