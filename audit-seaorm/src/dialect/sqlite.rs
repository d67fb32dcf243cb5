//! SQLite: an update or delete reads the latest version and plans in Rust (a delete's read
//! also says whether its row is still there); every write then sends its rows in one call
//! (one statement per row, the entry linked to its version through `last_insert_rowid()`).
//! A create reads nothing: its number and the drift of a row deleted outside the trail come
//! from the statements themselves.

use sea_orm::sea_query::{Expr, SqliteQueryBuilder, Values};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use serde_json::Value as Json;

use super::{
    HookedRow, Outcome, RowKey, entries_insert, latest, next_number, planned_version_insert,
};
use crate::api::parse_json;
use crate::entity::table_names;
use crate::trail::plan::{DRIFT, Kind, Latest, Plan, plan};
use crate::write::one_row;
use crate::{Error, Result};

/// The latest version of the subject, in SQL (bound: subject type, subject id).
fn latest_sql() -> String {
    let versions = &table_names().versions;
    format!(
        r#"SELECT "id", "version", "event", "data" FROM "{versions}" WHERE "subject_type" = ? AND "subject_id" = ? ORDER BY "version" DESC LIMIT 1"#
    )
}

pub(crate) async fn write_hooked<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
) -> Result<Outcome> {
    let (plan, drift_in_sql) = if row.write.kind == Kind::Created {
        (plan(&row.write, None).unwrap_or_default(), true)
    } else {
        let prev = match row.gone {
            Some(gone) if row.write.kind == Kind::Deleted => {
                match latest_unless_kept(db, row, gone).await? {
                    Some(prev) => prev,
                    None => return Ok(Outcome::NotDeleted),
                }
            }
            _ => latest(db, row.subject_type, row.subject_id, false).await?,
        };
        match plan(&row.write, prev.as_ref()) {
            Ok(plan) => (plan, false),
            Err(_) => return Ok(Outcome::NoBaseline),
        }
    };
    let Some((_, event, data)) = &plan.version else {
        return Ok(Outcome::Written);
    };
    let mut sql = String::new();
    let mut params = Vec::new();
    let mut push = |(s, v): (String, Values)| {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&s);
        params.extend(v.0);
    };
    // The drift entry first, so that it precedes the write's own entry.
    if drift_in_sql {
        push(created_over_live_trail(row));
    } else {
        let drift = Plan {
            drift: plan.drift.clone(),
            ..Plan::default()
        };
        if let Some(insert) = entries_insert(row, &drift, Expr::cust("NULL"), DbBackend::Sqlite) {
            push(insert.build(SqliteQueryBuilder));
        }
    }
    // The number is taken in the statement itself, so that two writers outside a
    // transaction (each statement on its own) cannot take the same one.
    let next = next_number(row.subject_type, row.subject_id);
    push(
        planned_version_insert(row, event, data, next, DbBackend::Sqlite).build(SqliteQueryBuilder),
    );
    let own = Plan {
        entry: plan.entry.clone(),
        ..Plan::default()
    };
    if let Some(insert) = entries_insert(
        row,
        &own,
        Expr::cust("last_insert_rowid()"),
        DbBackend::Sqlite,
    ) {
        push(insert.build(SqliteQueryBuilder));
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        params,
    ))
    .await
    .map_err(Error::db("writing the activity entry and version"))?;
    Ok(Outcome::Written)
}

/// A delete's read: `None` when its row is still there (a trigger cancelled the delete),
/// else the subject's latest version, if any.
async fn latest_unless_kept<C: ConnectionTrait>(
    db: &C,
    row: &HookedRow<'_>,
    gone: &RowKey,
) -> Result<Option<Option<Latest>>> {
    const CONTEXT: &str = "reading the latest version";
    let (select, mut values) = gone.select(SqliteQueryBuilder, |_| "?".to_owned());
    values.extend([row.subject_type.into(), row.subject_id.into()]);
    // One row whether or not the subject has a version.
    let sql = format!(
        r#"SELECT EXISTS ({select}) AS "kept", p."id", p."version", p."event", p."data"
FROM (SELECT 1) AS "one" LEFT JOIN ({latest}) AS p ON 1"#,
        latest = latest_sql()
    );
    let found = one_row(
        db,
        Statement::from_sql_and_values(DbBackend::Sqlite, sql, values),
        CONTEXT,
    )
    .await?;
    if found
        .try_get::<bool>("", "kept")
        .map_err(Error::db(CONTEXT))?
    {
        return Ok(None);
    }
    let Some(id) = found
        .try_get::<Option<i64>>("", "id")
        .map_err(Error::db(CONTEXT))?
    else {
        return Ok(Some(None));
    };
    let get = |column| {
        found
            .try_get::<String>("", column)
            .map_err(Error::db(CONTEXT))
    };
    Ok(Some(Some(Latest {
        version: found.try_get("", "version").map_err(Error::db(CONTEXT))?,
        event: get("event")?,
        data: parse_json(Json::String(get("data")?), "version", id)?,
    })))
}

/// A create while the trail says the row exists: the row was deleted outside the trail.
/// The drift entry (every field of the latest version `{old, new: null}`) is written only
/// in that case.
fn created_over_live_trail(row: &HookedRow<'_>) -> (String, Values) {
    let (latest, log) = (latest_sql(), &table_names().activity_log);
    let sql = format!(
        r#"INSERT INTO "{log}" ("action", "subject_type", "subject_id", "changes", "created_at")
SELECT '{DRIFT}', ?, ?, json_group_object(j.key, json_object('old', json(p."data" -> ('$."' || j.key || '"')), 'new', NULL)), ?
FROM ({latest}) p, json_each(p."data") j
WHERE p."event" <> 'deleted'
HAVING count(*) > 0"#
    );
    let values = vec![
        row.subject_type.into(),
        row.subject_id.into(),
        sea_orm::Value::ChronoDateTimeUtc(Some(row.by.created_at)),
        row.subject_type.into(),
        row.subject_id.into(),
    ];
    (sql, Values(values))
}
