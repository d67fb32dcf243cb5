//! SQLite: an update reads the latest version and plans in Rust, then sends its rows in one
//! call (one statement per row, the entry linked to its version through
//! `last_insert_rowid()`). A create reads nothing: its number and the drift of a row
//! deleted outside the trail come from the statements themselves. A delete compares
//! nothing, so it is one call in all: the database copies the latest version's values.

use sea_orm::sea_query::{Expr, SqliteQueryBuilder, Values};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{HookedRow, Outcome, entries_insert, latest, next_number, planned_version_insert};
use crate::entity::table_names;
use crate::trail::plan::{DRIFT, Kind, Plan, plan};
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
    if row.write.kind == Kind::Deleted {
        return write_deleted(db, row).await;
    }
    let (plan, drift_in_sql) = if row.write.kind == Kind::Created {
        (plan(&row.write, None).unwrap_or_default(), true)
    } else {
        let prev = latest(db, row.subject_type, row.subject_id, false).await?;
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

/// A delete, in one call: it compares nothing, so the database can take the old state
/// from the latest version itself. The version (the latest data, event `deleted`) is
/// written only where the trail says the row was alive and the row is gone; the entry,
/// only where the version was (`changes()`), linked by `last_insert_rowid()`, its changes
/// every field of that data going to null (each value copied as the version holds it)
/// and the redacted fields; then one row says whether there was a version and whether the
/// row is still there.
///
/// Parameters: `?1` subject type, `?2` subject id, the row's key, then causer, time, the
/// redacted fields' changes, action, properties, ip, user agent, request id. Each statement
/// uses a run of them from `?1` without a gap: sqlx binds a gap's slots in order from the
/// arguments and stops at the end of them, leaving any numbered parameter after it unbound.
async fn write_deleted<C: ConnectionTrait>(db: &C, row: &HookedRow<'_>) -> Result<Outcome> {
    const CONTEXT: &str = "writing the activity entry and version";
    let (versions, log) = (&table_names().versions, &table_names().activity_log);
    let by = &row.by;
    let text = |s: Option<&str>| sea_orm::Value::String(s.map(str::to_owned));
    let mut values = vec![text(Some(row.subject_type)), text(Some(row.subject_id))];
    let kept = match row.gone {
        Some(gone) => {
            let (select, key) = gone.select(SqliteQueryBuilder, |i| format!("?{}", 3 + i));
            values.extend(key);
            format!("EXISTS ({select})")
        }
        None => "0".to_owned(),
    };
    let p = |i: usize| format!("?{}", values.len() + i);
    let (causer, at, redacted, action, properties, ip, user_agent, request_id) =
        (p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8));
    values.extend([
        text(by.causer_id.as_deref()),
        sea_orm::Value::ChronoDateTimeUtc(Some(by.created_at)),
        sea_orm::Value::Json(Some(Box::new(super::changes_json(row.write.extra)))),
        text(Some(row.write.action)),
        sea_orm::Value::Json(by.properties.clone().map(Box::new)),
        text(by.ip.as_deref()),
        text(by.user_agent.as_deref()),
        text(by.request_id.as_deref()),
    ]);
    let sql = format!(
        r#"WITH p AS (SELECT "version", "event", "data" FROM "{versions}" WHERE "subject_type" = ?1 AND "subject_id" = ?2 ORDER BY "version" DESC LIMIT 1)
INSERT INTO "{versions}" ("subject_type", "subject_id", "version", "event", "data", "causer_id", "created_at")
SELECT ?1, ?2, p."version" + 1, 'deleted', p."data", {causer}, {at}
FROM p
WHERE p."event" <> 'deleted' AND NOT {kept}
  AND (EXISTS (SELECT 1 FROM json_each(p."data")) OR EXISTS (SELECT 1 FROM json_each({redacted})));
INSERT INTO "{log}" ("action", "subject_type", "subject_id", "causer_id", "changes", "properties", "ip", "user_agent", "request_id", "version_id", "created_at")
SELECT {action}, ?1, ?2, {causer},
       (SELECT json_group_object(c.field, json(c.change)) FROM (
            SELECT j.key AS field, json_object('old', json(v."data" -> ('$."' || j.key || '"')), 'new', NULL) AS change
            FROM json_each(v."data") j
            UNION ALL
            SELECT e.key, e.value FROM json_each({redacted}) e) c),
       {properties}, {ip}, {user_agent}, {request_id}, v."id", {at}
FROM "{versions}" v
WHERE changes() > 0 AND v."id" = last_insert_rowid() AND v."subject_type" = ?1 AND v."subject_id" = ?2
  AND NOT {kept};
SELECT EXISTS (SELECT 1 FROM "{versions}" WHERE "subject_type" = ?1 AND "subject_id" = ?2) AS "has_prev", {kept} AS "kept""#
    );
    let found = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await
        .map_err(Error::db(CONTEXT))?
        .ok_or(Error::Database {
            context: CONTEXT,
            source: sea_orm::DbErr::RecordNotInserted,
        })?;
    if found
        .try_get::<bool>("", "kept")
        .map_err(Error::db(CONTEXT))?
    {
        return Ok(Outcome::NotDeleted);
    }
    if !found
        .try_get::<bool>("", "has_prev")
        .map_err(Error::db(CONTEXT))?
    {
        return Ok(Outcome::NoBaseline);
    }
    Ok(Outcome::Written)
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
