//! The audit rows of one batch of a bulk write: the rows' latest versions read in one
//! query, each row planned as a hooked write is ([`plan`]), then every version in
//! multi-row inserts and every entry in multi-row inserts.

use std::collections::HashMap;

use audit_core::Changes;
use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, SqlErr, Value};
use serde_json::{Map, Value as Json};

use super::MAX_PARAMS;
use crate::dialect::{self, Attribution, text};
use crate::entity::versions;
use crate::trail::plan::{BASELINE, DRIFT, Hooked, Kind, Latest, Plan, plan};
use crate::{Error, Result};

/// One affected row of a batch.
pub(super) struct Row {
    pub id: String,
    pub kind: Kind,
    /// The audited fields after the write (`None` for a delete).
    pub data: Option<Map<String, Json>>,
    /// Changes computed from the model: a create's diff, the redacted fields.
    pub extra: Changes,
    /// The audited fields before the write (updates and deletes): the baseline of a row
    /// that has no version yet.
    pub before: Option<Map<String, Json>>,
}

/// A row's plan: the baseline version to write first (a row older than its trail), then
/// what the write adds.
struct Planned<'a> {
    id: &'a str,
    kind: Kind,
    baseline: Option<&'a Map<String, Json>>,
    plan: Plan,
}

/// Writes the audit rows of `rows` (all of `subject_type`); the entries and versions
/// written.
pub(super) async fn write<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    rows: &[Row],
    set: Option<&[&'static str]>,
    by: &Attribution,
) -> Result<(u64, u64)> {
    let backend = db.get_database_backend();
    for row in rows {
        dialect::check_subject_id(backend, (subject_type, &row.id))?;
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    // MySQL reads the latest versions without locks (see `dialect::mysql`); a number taken
    // meanwhile fails the insert (InnoDB rolls back only that statement), and a locking
    // read, which sees the latest commit, plans again.
    let mut lock = false;
    loop {
        let latest = latest(db, subject_type, &ids, lock).await?;
        let planned = plan_rows(rows, &latest, set);
        match insert_versions(db, subject_type, &planned, by).await {
            Ok(versions) => {
                let entries = insert_entries(db, subject_type, &planned, by).await?;
                return Ok((entries, versions));
            }
            Err(e)
                if backend == DbBackend::MySql
                    && !lock
                    && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
            {
                lock = true;
            }
            Err(e) => return Err(Error::db("writing the versions of a bulk write")(e)),
        }
    }
}

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

fn plan_rows<'a>(
    rows: &'a [Row],
    latest: &HashMap<String, Latest>,
    set: Option<&[&'static str]>,
) -> Vec<Planned<'a>> {
    let mut planned = Vec::with_capacity(rows.len());
    for row in rows {
        let found = latest.get(&row.id);
        // A row with no version yet: the state read before the write is its baseline.
        let baseline = match (found, row.kind) {
            (None, Kind::Updated | Kind::Deleted) => row.before.as_ref(),
            _ => None,
        };
        let from_baseline = baseline.map(|data| Latest {
            version: 1,
            event: BASELINE.to_owned(),
            data: data.clone(),
        });
        let write = Hooked {
            kind: row.kind,
            action: row.kind.as_str(),
            data: row.data.as_ref(),
            set,
            extra: &row.extra,
            force: false,
        };
        // Every update and delete carries the row read before it, so a plan always has
        // its old state.
        let plan = plan(&write, found.or(from_baseline.as_ref())).unwrap_or_default();
        planned.push(Planned {
            id: &row.id,
            kind: row.kind,
            baseline,
            plan,
        });
    }
    planned
}

/// Sends `rows` of `insert` (a statement with its columns and no rows yet) in statements
/// of at most [`MAX_PARAMS`] parameters; the rows sent.
async fn insert_chunked<C: ConnectionTrait>(
    db: &C,
    insert: &InsertStatement,
    rows: Vec<Vec<SimpleExpr>>,
    params_per_row: usize,
) -> std::result::Result<u64, sea_orm::DbErr> {
    let per_statement = (MAX_PARAMS / params_per_row).max(1);
    let mut sent = 0;
    for chunk in rows.chunks(per_statement) {
        let mut statement = insert.clone();
        for row in chunk {
            statement.values_panic(row.iter().cloned());
        }
        db.execute(&statement).await?;
        sent += chunk.len() as u64;
    }
    Ok(sent)
}

async fn insert_versions<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    planned: &[Planned<'_>],
    by: &Attribution,
) -> std::result::Result<u64, sea_orm::DbErr> {
    use versions::Column as V;
    let backend = db.get_database_backend();
    let mut rows = Vec::new();
    let mut push = |id: &str, number: i64, event: &str, data: &Map<String, Json>| {
        let causer = match event {
            BASELINE | DRIFT => None,
            _ => by.causer_id.as_deref(),
        };
        rows.push(vec![
            text(Some(subject_type)),
            text(Some(id)),
            Value::BigInt(Some(number)).into(),
            text(Some(event)),
            Value::Json(Some(Box::new(Json::Object(data.clone())))).into(),
            text(causer),
            dialect::time(by.created_at, backend),
        ]);
    };
    for p in planned {
        if let Some(baseline) = p.baseline {
            push(p.id, 1, BASELINE, baseline);
        }
        if let Some((number, event, data)) = &p.plan.version {
            push(p.id, *number, event, data);
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let insert = Query::insert()
        .into_table(versions::Entity)
        .columns([
            V::SubjectType,
            V::SubjectId,
            V::Version,
            V::Event,
            V::Data,
            V::CauserId,
            V::CreatedAt,
        ])
        .to_owned();
    insert_chunked(db, &insert, rows, 7).await
}

/// The id of a subject's version `number`, looked up in the statement that uses it.
fn version_id(subject_type: &str, subject_id: &str, number: i64) -> SimpleExpr {
    use versions::Column as V;
    let select = Query::select()
        .column(V::Id)
        .from(versions::Entity)
        .and_where(Expr::col(V::SubjectType).eq(subject_type))
        .and_where(Expr::col(V::SubjectId).eq(subject_id))
        .and_where(Expr::col(V::Version).eq(number))
        .to_owned();
    SimpleExpr::SubQuery(None, Box::new(select.into()))
}

async fn insert_entries<C: ConnectionTrait>(
    db: &C,
    subject_type: &str,
    planned: &[Planned<'_>],
    by: &Attribution,
) -> Result<u64> {
    let backend = db.get_database_backend();
    let at = by.created_at;
    let mut rows = Vec::new();
    for p in planned {
        let subject = (subject_type, p.id);
        if let Some(drift) = &p.plan.drift {
            let none = Value::BigInt(None).into();
            rows.push(dialect::entry_values(
                subject, DRIFT, drift, None, none, at, backend,
            ));
        }
        if let (Some(own), Some((number, _, _))) = (&p.plan.entry, &p.plan.version) {
            let version = version_id(subject_type, p.id, *number);
            rows.push(dialect::entry_values(
                subject,
                p.kind.as_str(),
                own,
                Some(by),
                version,
                at,
                backend,
            ));
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    insert_chunked(db, &dialect::entry_insert(), rows, 14)
        .await
        .map_err(Error::db("writing the activity entries of a bulk write"))
}
