//! Writing audit rows: one activity entry, one version, or both linked, in as few
//! statements as the backend allows (one on PostgreSQL, two elsewhere).

use audit_core::{AuditContext, Changes};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde_json::{Map, Value as Json};

use crate::{Error, Result};

/// The activity half of a write.
pub(crate) struct ActivityRow<'a> {
    pub action: &'a str,
    pub changes: &'a Changes,
    /// Properties of the call, merged over the context's.
    pub properties: Option<Json>,
}

/// The version half of a write.
pub(crate) struct VersionRow<'a> {
    pub event: &'a str,
    pub data: &'a Map<String, Json>,
}

/// One audit write.
pub(crate) struct Record<'a> {
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    /// Overrides the context's causer.
    pub causer_id: Option<&'a str>,
    pub activity: Option<ActivityRow<'a>>,
    pub version: Option<VersionRow<'a>>,
}

/// What a write produced. The ids are read back where the caller needs them (an activity
/// or a version alone); a linked pair on SQLite or MySQL leaves them unread.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub activity_id: Option<i64>,
    pub version_id: Option<i64>,
    /// The version number (read back only where it costs nothing).
    pub version: Option<i64>,
    pub causer_id: Option<String>,
    pub properties: Option<Json>,
    pub created_at: DateTime<Utc>,
}

fn text(s: Option<&str>) -> Value {
    Value::String(s.map(|s| s.to_owned()))
}

fn json(v: Option<Json>) -> Value {
    Value::Json(v.map(Box::new))
}

/// Quotes identifiers for the backend: the SQL below is written with `"`.
fn sql(backend: DbBackend, s: &str) -> String {
    match backend {
        DbBackend::MySql => s.replace('"', "`"),
        _ => s.to_owned(),
    }
}

const VERSION_COLS: &str =
    r#""subject_type", "subject_id", "version", "event", "data", "causer_id", "created_at""#;
const ACTIVITY_COLS: &str = r#""action", "subject_type", "subject_id", "causer_id", "changes", "properties", "ip", "user_agent", "request_id", "version_id", "created_at""#;

/// Writes `record`, attributing it from the audit context in scope.
pub(crate) async fn write<C: ConnectionTrait>(db: &C, record: Record<'_>) -> Result<Written> {
    let ctx = AuditContext::current();
    let ctx = ctx.as_deref();
    let causer_id = record
        .causer_id
        .map(str::to_owned)
        .or_else(|| ctx.and_then(|c| c.causer_id.clone()));
    // Microseconds: what every backend stores, so a returned record equals the stored one.
    let created_at = Utc::now().trunc_subsecs(6);
    let backend = db.get_database_backend();

    let activity = record.activity.as_ref().map(|a| {
        let mut props = ctx.map(|c| c.properties.clone()).unwrap_or_default();
        match &a.properties {
            Some(Json::Object(own)) => props.extend(own.clone()),
            Some(Json::Null) | None => {}
            Some(other) => {
                props.insert("value".to_owned(), other.clone());
            }
        }
        let props = (!props.is_empty()).then_some(Json::Object(props));
        let changes = serde_json::to_value(a.changes).expect("changes serialize to JSON");
        (a.action, changes, props)
    });
    let properties = activity.as_ref().and_then(|(_, _, p)| p.clone());

    // Values in ACTIVITY_COLS order, without version_id and created_at.
    let activity_values = |action: &str, changes: Json, props: Option<Json>| -> Vec<Value> {
        vec![
            text(Some(action)),
            text(Some(record.subject_type)),
            text(Some(record.subject_id)),
            text(causer_id.as_deref()),
            json(Some(changes)),
            json(props),
            text(ctx.and_then(|c| c.ip.as_deref())),
            text(ctx.and_then(|c| c.user_agent.as_deref())),
            text(ctx.and_then(|c| c.request_id.as_deref())),
        ]
    };
    let version_values = |v: &VersionRow<'_>| -> Vec<Value> {
        vec![
            text(Some(record.subject_type)),
            text(Some(record.subject_id)),
            text(Some(v.event)),
            json(Some(Json::Object(v.data.clone()))),
            text(causer_id.as_deref()),
            Value::ChronoDateTimeUtc(Some(created_at)),
        ]
    };

    let mut written = Written {
        activity_id: None,
        version_id: None,
        version: None,
        causer_id: causer_id.clone(),
        properties,
        created_at,
    };

    match (activity, &record.version, backend) {
        // PostgreSQL: both rows in one statement, the version numbered in the database.
        (Some((action, changes, props)), Some(v), DbBackend::Postgres) => {
            let stmt = format!(
                r#"WITH v AS (
                    INSERT INTO "versions" ({VERSION_COLS})
                    SELECT $1, $2, COALESCE(MAX("version"), 0) + 1, $3, $4, $5, $6
                    FROM "versions" WHERE "subject_type" = $1 AND "subject_id" = $2
                    RETURNING "id", "version")
                INSERT INTO "activity_log" ({ACTIVITY_COLS})
                SELECT $7, $1, $2, $5, $8, $9, $10, $11, $12, v."id", $6 FROM v
                RETURNING "id", "version_id", (SELECT "version" FROM v) AS "version""#
            );
            let mut values = version_values(v);
            let mut a = activity_values(action, changes, props);
            values.push(a.remove(0)); // $7 action
            values.extend(a.drain(3..)); // $8.. changes, properties, ip, user_agent, request_id
            let row = db
                .query_one_raw(Statement::from_sql_and_values(backend, stmt, values))
                .await
                .map_err(Error::db("writing the activity entry and version"))?
                .ok_or_else(|| Error::Database {
                    context: "writing the activity entry and version",
                    source: sea_orm::DbErr::RecordNotInserted,
                })?;
            written.activity_id = Some(
                row.try_get("", "id")
                    .map_err(Error::db("reading the written ids"))?,
            );
            written.version_id = row
                .try_get("", "version_id")
                .map_err(Error::db("reading the written ids"))?;
            written.version = Some(
                row.try_get("", "version")
                    .map_err(Error::db("reading the written ids"))?,
            );
        }
        // SQLite: both statements in one call (sqlx runs each call on its worker thread, so
        // a call costs more than the statements); the entry links its version through
        // `last_insert_rowid()`. The ids are not read back.
        (Some((action, changes, props)), Some(v), DbBackend::Sqlite) => {
            let mut values = version_values(v);
            values.push(text(Some(record.subject_type)));
            values.push(text(Some(record.subject_id)));
            values.extend(activity_values(action, changes, props));
            values.push(Value::ChronoDateTimeUtc(Some(created_at)));
            let stmt = format!(
                r#"INSERT INTO "versions" ({VERSION_COLS})
                   SELECT ?, ?, COALESCE(MAX("version"), 0) + 1, ?, ?, ?, ?
                   FROM "versions" WHERE "subject_type" = ? AND "subject_id" = ?;
                   INSERT INTO "activity_log" ({ACTIVITY_COLS})
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, last_insert_rowid(), ?)"#
            );
            db.execute_raw(Statement::from_sql_and_values(backend, stmt, values))
                .await
                .map_err(Error::db("writing the activity entry and version"))?;
        }
        (activity, version, _) => {
            if let Some(v) = version {
                let (id, number) = insert_version(db, backend, version_values(v), &record).await?;
                written.version_id = Some(id);
                written.version = number;
            }
            if let Some((action, changes, props)) = activity {
                let mut values = activity_values(action, changes, props);
                values.push(Value::BigInt(written.version_id));
                values.push(Value::ChronoDateTimeUtc(Some(created_at)));
                let placeholders = placeholders(backend, values.len());
                let stmt = sql(
                    backend,
                    &format!(
                        r#"INSERT INTO "activity_log" ({ACTIVITY_COLS}) VALUES ({placeholders})"#
                    ),
                );
                written.activity_id = Some(
                    insert_returning_id(db, backend, stmt, values, "writing the activity entry")
                        .await?,
                );
            }
        }
    }
    Ok(written)
}

fn placeholders(backend: DbBackend, n: usize) -> String {
    (1..=n)
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts a version numbered `max + 1` for its subject, computed by the database.
async fn insert_version<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    mut values: Vec<Value>,
    record: &Record<'_>,
) -> Result<(i64, Option<i64>)> {
    const CONTEXT: &str = "writing the version";
    if backend == DbBackend::MySql {
        return insert_version_mysql(db, values, record).await;
    }
    let stmt = match backend {
        DbBackend::Postgres => format!(
            r#"INSERT INTO "versions" ({VERSION_COLS})
               SELECT $1, $2, COALESCE(MAX("version"), 0) + 1, $3, $4, $5, $6
               FROM "versions" WHERE "subject_type" = $1 AND "subject_id" = $2
               RETURNING "id", "version""#
        ),
        _ => {
            values.push(text(Some(record.subject_type)));
            values.push(text(Some(record.subject_id)));
            let returning = if backend == DbBackend::Sqlite {
                r#" RETURNING "id", "version""#
            } else {
                ""
            };
            sql(
                backend,
                &format!(
                    r#"INSERT INTO "versions" ({VERSION_COLS})
                       SELECT ?, ?, COALESCE(MAX("version"), 0) + 1, ?, ?, ?, ?
                       FROM "versions" WHERE "subject_type" = ? AND "subject_id" = ?{returning}"#
                ),
            )
        }
    };
    let stmt = Statement::from_sql_and_values(backend, stmt, values);
    let row = db
        .query_one_raw(stmt)
        .await
        .map_err(Error::db(CONTEXT))?
        .ok_or(Error::Database {
            context: CONTEXT,
            source: sea_orm::DbErr::RecordNotInserted,
        })?;
    Ok((
        row.try_get("", "id").map_err(Error::db(CONTEXT))?,
        Some(row.try_get("", "version").map_err(Error::db(CONTEXT))?),
    ))
}

/// MySQL/InnoDB: `INSERT … SELECT MAX(…)` takes shared next-key locks under REPEATABLE
/// READ, and two transactions inserting versions of *different* new subjects into the same
/// index gap then deadlock. So the number is read first without locks (the entity row lock
/// already serializes writers of one subject), then inserted. A new row's version is
/// inserted as 1 without reading. A duplicate number (a re-inserted id, or a transaction
/// snapshot older than the latest version; InnoDB rolls back only that statement) is
/// re-read with a locking read, which sees the latest commit, and inserted again.
async fn insert_version_mysql<C: ConnectionTrait>(
    db: &C,
    values: Vec<Value>,
    record: &Record<'_>,
) -> Result<(i64, Option<i64>)> {
    const CONTEXT: &str = "writing the version";
    const NUMBERING: &str = "numbering the version";
    let insert = sql(
        DbBackend::MySql,
        &format!(r#"INSERT INTO "versions" ({VERSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"#),
    );
    #[derive(PartialEq)]
    enum Source {
        /// A new row: version 1, nothing read.
        First,
        /// `MAX + 1` read from the transaction's snapshot, without locks.
        Snapshot,
        /// `MAX + 1` read with a locking read: the latest commit.
        Latest,
    }
    let created = record
        .version
        .as_ref()
        .is_some_and(|v| v.event == "created");
    let mut source = if created {
        Source::First
    } else {
        Source::Snapshot
    };
    loop {
        let number = match source {
            Source::First => 1,
            Source::Snapshot | Source::Latest => {
                let lock = if source == Source::Latest {
                    " FOR UPDATE"
                } else {
                    ""
                };
                let next = Statement::from_sql_and_values(
                    DbBackend::MySql,
                    format!(
                        "SELECT COALESCE(MAX(`version`), 0) + 1 AS `next` FROM `versions` \
                         WHERE `subject_type` = ? AND `subject_id` = ?{lock}"
                    ),
                    [
                        text(Some(record.subject_type)),
                        text(Some(record.subject_id)),
                    ],
                );
                db.query_one_raw(next)
                    .await
                    .map_err(Error::db(NUMBERING))?
                    .ok_or(Error::Database {
                        context: NUMBERING,
                        source: sea_orm::DbErr::RecordNotFound("MAX".into()),
                    })?
                    .try_get("", "next")
                    .map_err(Error::db(NUMBERING))?
            }
        };
        let mut row = values.clone();
        row.insert(2, Value::BigInt(Some(number)));
        match db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::MySql,
                insert.clone(),
                row,
            ))
            .await
        {
            Ok(res) => return Ok((res.last_insert_id() as i64, Some(number))),
            Err(e)
                if source != Source::Latest
                    && matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
            {
                source = Source::Latest;
            }
            Err(e) => {
                return Err(Error::Database {
                    context: CONTEXT,
                    source: e,
                });
            }
        }
    }
}

async fn insert_returning_id<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    stmt: String,
    values: Vec<Value>,
    context: &'static str,
) -> Result<i64> {
    if backend == DbBackend::MySql {
        let res = db
            .execute_raw(Statement::from_sql_and_values(backend, stmt, values))
            .await
            .map_err(Error::db(context))?;
        return Ok(res.last_insert_id() as i64);
    }
    let stmt = format!(r#"{stmt} RETURNING "id""#);
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, stmt, values))
        .await
        .map_err(Error::db(context))?
        .ok_or(Error::Database {
            context,
            source: sea_orm::DbErr::RecordNotInserted,
        })?;
    row.try_get("", "id").map_err(Error::db(context))
}
